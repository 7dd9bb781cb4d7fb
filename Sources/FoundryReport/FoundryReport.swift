// The report module: PNG plots for pipeline reports.

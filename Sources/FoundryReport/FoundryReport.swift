// FoundryReport: dependency-free PNG charts for training report cards.
//
//   PNG.swift    Color, Image (RGB raster) and the PNG/zlib/deflate encoder, atomic file writes.
//   Draw.swift   Rect and drawing on Image: rectangles, anti-aliased lines and dots, bitmap text.
//   Font.swift   The built-in 5x7 font for printable ASCII.
//   Chart.swift  Series, PlotArea and Chart.line / Chart.bars.

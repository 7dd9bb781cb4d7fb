// Foundry targets OpenCL 1.2 host APIs so it runs on every vendor's driver.
#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

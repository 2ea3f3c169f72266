/* CPU emulation (tests/cuda/emu): see cuda_runtime_api.h. */
#include "cuda_runtime_api.h"

/* CPU emulation of the CUDA C++ device-side features the kernels of
 * models/cuda use, so that they can be compiled by g++ and run on a machine
 * without a GPU (tests/cuda/emu/run_emulated.sh). Every thread of a block is
 * a cooperative fiber; __syncthreads is a block barrier, warp shuffles are a
 * warp barrier plus an exchange, so barrier placement and shuffle use are
 * exercised; blocks run one after the other. Launches are rewritten by
 * cudafy.py into etp_emu_launch (grid, block, shared bytes, lambda). */
#ifndef ETP_EMU_CUDA_EMU_H
#define ETP_EMU_CUDA_EMU_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <math.h>

#include "cuda_runtime_api.h"

struct dim3 {
  unsigned x, y, z;
  dim3 (unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x (x_), y (y_), z (z_) {}
};
struct etp_emu_uint3 {
  unsigned x, y, z;
};

etp_emu_uint3 etp_emu_thread_idx ();
etp_emu_uint3 etp_emu_block_idx ();
etp_emu_uint3 etp_emu_block_dim ();
etp_emu_uint3 etp_emu_grid_dim ();
void etp_emu_syncthreads ();
void etp_emu_warp_exchange (uint64_t mine, uint64_t *lanes /* 32 */);
void *etp_emu_dyn_smem ();
void etp_emu_launch (dim3 grid, dim3 block, size_t shmem, std::function<void ()> fn);

#define threadIdx (etp_emu_thread_idx ())
#define blockIdx (etp_emu_block_idx ())
#define blockDim (etp_emu_block_dim ())
#define gridDim (etp_emu_grid_dim ())
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __syncthreads() etp_emu_syncthreads ()

template <typename T>
static inline T
__shfl_down_sync (unsigned mask, T v, int delta)
{
  (void) mask;
  uint64_t mine = 0, lanes[32];
  static_assert (sizeof (T) <= sizeof (uint64_t), "shuffle of a wide type");
  memcpy (&mine, &v, sizeof (T));
  etp_emu_warp_exchange (mine, lanes);
  unsigned src = (threadIdx.x & 31) + (unsigned) delta;
  T r = v;
  if (src < 32)
    memcpy (&r, &lanes[src], sizeof (T));
  return r;
}

static inline int
atomicCAS (int *a, int cmp, int val)
{
  int old = *a;                 /* fibers are cooperative: no preemption */
  if (old == cmp)
    *a = val;
  return old;
}

static inline unsigned
__float_as_uint (float f)
{
  unsigned u;
  memcpy (&u, &f, 4);
  return u;
}

static inline float
__uint_as_float (unsigned u)
{
  float f;
  memcpy (&f, &u, 4);
  return f;
}

template <typename F>
static inline cudaError_t
cudaFuncGetAttributes (cudaFuncAttributes *attr, F *fn)
{
  (void) fn;
  attr->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}

#endif

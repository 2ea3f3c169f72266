/* CPU emulation of the CUDA runtime, cuBLAS and kernel launches for
 * tests/cuda/emu (run_emulated.sh): lets the CUDA backend's host code and
 * kernels run, unchanged, on a machine without a GPU, under ASan/UBSan.
 * Device memory is host memory tracked in a table, so copies, memsets and
 * GEMM operands are checked to lie inside device allocations; kernel threads
 * are ucontext fibers (cuda_emu.h). Streams are synchronous. */
#include "cuda_emu.h"
#include "cublas_v2.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <ucontext.h>
#include <vector>

/* ------------------------------------------------------------ memory */

static std::map<uintptr_t, size_t> dev_allocs, host_allocs;
static cudaError_t last_error = cudaSuccess;

extern "C" void
etp_emu_set_error (cudaError_t e)
{
  if (last_error == cudaSuccess)
    last_error = e;
}

static int
in_map (const std::map<uintptr_t, size_t> &m, const void *p, size_t n)
{
  uintptr_t a = (uintptr_t) p;
  auto it = m.upper_bound (a);
  if (it == m.begin ())
    return 0;
  --it;
  return a >= it->first && a + n <= it->first + it->second;
}

extern "C" int
etp_emu_is_device_ptr (const void *p, size_t n)
{
  return in_map (dev_allocs, p, n);
}

static void
fail (const char *what, const void *p, size_t n)
{
  fprintf (stderr, "cuda-emu: %s: %p (+%zu bytes) is not inside a device allocation\n", what,
      p, n);
  abort ();
}

extern "C" {

cudaError_t
cudaGetDeviceCount (int *count)
{
  if (getenv ("ETP_CUDA_EMU_NO_DEVICE")) {
    *count = 0;
    return cudaErrorNoDevice;
  }
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice (int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }

cudaError_t
cudaGetDeviceProperties (struct cudaDeviceProp *p, int d)
{
  memset (p, 0, sizeof *p);
  snprintf (p->name, sizeof p->name, "CPU emulation");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 132;
  return d == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}

const char *
cudaGetErrorString (cudaError_t e)
{
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    default: return "emulated error";
  }
}

const char *cudaGetErrorName (cudaError_t e) { (void) e; return "cudaErrorEmulated"; }

cudaError_t
cudaGetLastError (void)
{
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

cudaError_t
cudaMalloc (void **p, size_t n)
{
  if (n > ((size_t) 64 << 30)) {
    *p = NULL;
    return cudaErrorMemoryAllocation;
  }
  *p = aligned_alloc (256, (n + 255) & ~(size_t) 255);
  if (!*p)
    return cudaErrorMemoryAllocation;
  /* garbage, as fresh device memory is: uninitialised reads show */
  memset (*p, 0xa5, n);
  dev_allocs[(uintptr_t) *p] = n;
  return cudaSuccess;
}

cudaError_t
cudaFree (void *p)
{
  if (!p)
    return cudaSuccess;
  if (!dev_allocs.erase ((uintptr_t) p))
    fail ("cudaFree", p, 0);
  free (p);
  return cudaSuccess;
}

cudaError_t
cudaHostAlloc (void **p, size_t n, unsigned flags)
{
  (void) flags;
  *p = malloc (n);
  host_allocs[(uintptr_t) *p] = n;
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t
cudaFreeHost (void *p)
{
  host_allocs.erase ((uintptr_t) p);
  free (p);
  return cudaSuccess;
}

cudaError_t
cudaMemcpyAsync (void *dst, const void *src, size_t n, enum cudaMemcpyKind k, cudaStream_t st)
{
  (void) st;
  if ((k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice)
      && !etp_emu_is_device_ptr (dst, n))
    fail ("cudaMemcpyAsync dst", dst, n);
  if ((k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice)
      && !etp_emu_is_device_ptr (src, n))
    fail ("cudaMemcpyAsync src", src, n);
  if (k == cudaMemcpyHostToDevice && etp_emu_is_device_ptr (src, 1))
    fail ("cudaMemcpyAsync host src is device memory", src, n);
  memmove (dst, src, n);
  return cudaSuccess;
}

cudaError_t
cudaMemsetAsync (void *dst, int v, size_t n, cudaStream_t st)
{
  (void) st;
  if (!etp_emu_is_device_ptr (dst, n))
    fail ("cudaMemsetAsync", dst, n);
  memset (dst, v, n);
  return cudaSuccess;
}

struct EtpEmuStream { int dummy; };
struct EtpEmuEvent { int dummy; };

cudaError_t
cudaStreamCreateWithFlags (cudaStream_t *st, unsigned flags)
{
  (void) flags;
  *st = new EtpEmuStream ();
  return cudaSuccess;
}

cudaError_t cudaStreamDestroy (cudaStream_t st) { delete st; return cudaSuccess; }
cudaError_t cudaStreamSynchronize (cudaStream_t st) { (void) st; return cudaSuccess; }

cudaError_t
cudaEventCreateWithFlags (cudaEvent_t *ev, unsigned flags)
{
  (void) flags;
  *ev = new EtpEmuEvent ();
  return cudaSuccess;
}

cudaError_t cudaEventDestroy (cudaEvent_t ev) { delete ev; return cudaSuccess; }
cudaError_t cudaEventRecord (cudaEvent_t ev, cudaStream_t st) { (void) ev; (void) st; return cudaSuccess; }
cudaError_t cudaEventSynchronize (cudaEvent_t ev) { (void) ev; return cudaSuccess; }

/* -------------------------------------------------------------- cuBLAS */

struct EtpEmuBlas { int math; };

cublasStatus_t cublasCreate (cublasHandle_t *h) { *h = new EtpEmuBlas (); return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy (cublasHandle_t h) { delete h; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream (cublasHandle_t h, cudaStream_t st) { (void) h; (void) st; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode (cublasHandle_t h, cublasMath_t m) { h->math = m; return CUBLAS_STATUS_SUCCESS; }

const char *
cublasGetStatusString (cublasStatus_t s)
{
  return s == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}

static inline float
bf16 (uint16_t h)
{
  uint32_t u = (uint32_t) h << 16;
  float f;
  memcpy (&f, &u, 4);
  return f;
}

/* column-major reference; extent checks on every operand */
static cublasStatus_t
gemm_ref (cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
          const void *A, int abf, int lda, long long sa, const void *B, int bbf, int ldb,
          long long sb, float beta, float *C, int ldc, long long sc, int batch)
{
  if (m < 0 || n < 0 || k < 0 || batch < 1 || lda < (ta == CUBLAS_OP_N ? (m > 1 ? m : 1)
          : (k > 1 ? k : 1)) || ldb < (tb == CUBLAS_OP_N ? (k > 1 ? k : 1) : (n > 1 ? n : 1))
      || ldc < (m > 1 ? m : 1)) {
    fprintf (stderr, "cuda-emu: cublas gemm: invalid m=%d n=%d k=%d lda=%d ldb=%d ldc=%d\n",
        m, n, k, lda, ldb, ldc);
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  if (m == 0 || n == 0)
    return CUBLAS_STATUS_SUCCESS;
  size_t ea = abf ? 2 : 4, eb = bbf ? 2 : 4;
  for (int b = 0; b < batch; b++) {
    const char *Ab = (const char *) A + (size_t) (b * sa) * ea;
    const char *Bb = (const char *) B + (size_t) (b * sb) * eb;
    float *Cb = C + b * sc;
    if (k > 0) {
      size_t last_a = ta == CUBLAS_OP_N ? (size_t) (m - 1) + (size_t) (k - 1) * lda
          : (size_t) (k - 1) + (size_t) (m - 1) * lda;
      size_t last_b = tb == CUBLAS_OP_N ? (size_t) (k - 1) + (size_t) (n - 1) * ldb
          : (size_t) (n - 1) + (size_t) (k - 1) * ldb;
      if (!etp_emu_is_device_ptr (Ab, (last_a + 1) * ea))
        fail ("cublas gemm A", Ab, (last_a + 1) * ea);
      if (!etp_emu_is_device_ptr (Bb, (last_b + 1) * eb))
        fail ("cublas gemm B", Bb, (last_b + 1) * eb);
    }
    size_t last_c = (size_t) (m - 1) + (size_t) (n - 1) * ldc;
    if (!etp_emu_is_device_ptr (Cb, (last_c + 1) * 4))
      fail ("cublas gemm C", Cb, (last_c + 1) * 4);
    for (int j = 0; j < n; j++)
      for (int i = 0; i < m; i++) {
        double acc = 0;
        for (int p = 0; p < k; p++) {
          size_t ia = ta == CUBLAS_OP_N ? (size_t) i + (size_t) p * lda : (size_t) p + (size_t) i * lda;
          size_t ib = tb == CUBLAS_OP_N ? (size_t) p + (size_t) j * ldb : (size_t) j + (size_t) p * ldb;
          float a = abf ? bf16 (((const uint16_t *) Ab)[ia]) : ((const float *) Ab)[ia];
          float bv = bbf ? bf16 (((const uint16_t *) Bb)[ib]) : ((const float *) Bb)[ib];
          acc += (double) a * bv;
        }
        float *c = Cb + (size_t) i + (size_t) j * ldc;
        *c = (float) (alpha * acc + (beta != 0.f ? (double) beta * *c : 0.0));
      }
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasSgemm (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
             const float *alpha, const float *A, int lda, const float *B, int ldb,
             const float *beta, float *C, int ldc)
{
  (void) h;
  return gemm_ref (ta, tb, m, n, k, *alpha, A, 0, lda, 0, B, 0, ldb, 0, *beta, C, ldc, 0, 1);
}

cublasStatus_t
cublasSgemmStridedBatched (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           long long sa, const float *B, int ldb, long long sb,
                           const float *beta, float *C, int ldc, long long sc, int batch)
{
  (void) h;
  return gemm_ref (ta, tb, m, n, k, *alpha, A, 0, lda, sa, B, 0, ldb, sb, *beta, C, ldc, sc,
      batch);
}

cublasStatus_t
cublasGemmStridedBatchedEx (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const void *alpha, const void *A, cudaDataType at,
                            int lda, long long sa, const void *B, cudaDataType bt, int ldb,
                            long long sb, const void *beta, void *C, cudaDataType ct, int ldc,
                            long long sc, int batch, cublasComputeType_t comp,
                            cublasGemmAlgo_t algo)
{
  (void) h;
  (void) algo;
  if (ct != CUDA_R_32F || comp != CUBLAS_COMPUTE_32F)
    return CUBLAS_STATUS_INVALID_VALUE;
  return gemm_ref (ta, tb, m, n, k, *(const float *) alpha, A, at == CUDA_R_16BF, lda, sa, B,
      bt == CUDA_R_16BF, ldb, sb, *(const float *) beta, (float *) C, ldc, sc, batch);
}

} /* extern "C" */

/* ------------------------------------------------------------- kernels */

namespace {

const size_t STACK = 256 * 1024;

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done;
  /* what it waits for: a barrier generation to move past wait_gen */
  const unsigned *wait_on;
  unsigned wait_gen;
};

ucontext_t sched;
std::vector<Fiber> fibers;
int nthreads, cur, alive;
dim3 g_grid, g_block, g_bidx;
std::function<void ()> *g_fn;
std::vector<char> dyn_smem;
/* block barrier */
int bar_arrived;
unsigned bar_gen;
/* warp barriers */
struct Warp {
  int arrived, alive;
  unsigned gen;
  uint64_t slot[2][32];         /* double-buffered by generation parity */
};
std::vector<Warp> warps;
unsigned long progress;

/* Parks the fiber until *gen != g (the scheduler does not wake it before). */
void
wait_for (const unsigned *gen, unsigned g)
{
  while (*gen == g) {
    fibers[cur].wait_on = gen;
    fibers[cur].wait_gen = g;
    swapcontext (&fibers[cur].ctx, &sched);
  }
  fibers[cur].wait_on = NULL;
}

void
release_block_barrier_if_complete ()
{
  if (bar_arrived > 0 && bar_arrived == alive) {
    bar_arrived = 0;
    bar_gen++;
    progress++;
  }
}

void
release_warp_if_complete (Warp &w)
{
  if (w.arrived > 0 && w.arrived == w.alive) {
    w.arrived = 0;
    w.gen++;
    progress++;
  }
}

void
warp_barrier (Warp &w)
{
  unsigned gen = w.gen;
  w.arrived++;
  progress++;
  release_warp_if_complete (w);
  wait_for (&w.gen, gen);
}

void
trampoline ()
{
  (*g_fn) ();
  Fiber &f = fibers[cur];
  f.done = true;
  alive--;
  warps[cur / 32].alive--;
  progress++;
  release_block_barrier_if_complete ();
  release_warp_if_complete (warps[cur / 32]);
  /* returns to uc_link (the scheduler) */
}

} /* namespace */

etp_emu_uint3
etp_emu_thread_idx ()
{
  return { (unsigned) cur, 0, 0 };
}

etp_emu_uint3 etp_emu_block_idx () { return { g_bidx.x, g_bidx.y, g_bidx.z }; }
etp_emu_uint3 etp_emu_block_dim () { return { g_block.x, 1, 1 }; }
etp_emu_uint3 etp_emu_grid_dim () { return { g_grid.x, g_grid.y, g_grid.z }; }
void *etp_emu_dyn_smem () { return dyn_smem.data (); }

void
etp_emu_syncthreads ()
{
  unsigned gen = bar_gen;
  bar_arrived++;
  progress++;
  release_block_barrier_if_complete ();
  wait_for (&bar_gen, gen);
}

void
etp_emu_warp_exchange (uint64_t mine, uint64_t *lanes)
{
  /* one barrier per exchange: the next exchange writes the other buffer,
   * and cannot start before every lane passed this one's barrier */
  Warp &w = warps[cur / 32];
  uint64_t *slot = w.slot[w.gen & 1];
  slot[cur & 31] = mine;
  warp_barrier (w);
  memcpy (lanes, slot, 32 * sizeof (uint64_t));
}

void
etp_emu_launch (dim3 grid, dim3 block, size_t shmem, std::function<void ()> fn)
{
  if (block.x < 1 || block.x > 1024 || block.y != 1 || block.z != 1 || grid.x < 1
      || grid.y < 1 || grid.y > 65535 || grid.z < 1 || grid.z > 65535 || shmem > 48 * 1024
      || block.x % 32 != 0) {
    fprintf (stderr, "cuda-emu: invalid launch grid (%u,%u,%u) block (%u,%u,%u) shmem %zu\n",
        grid.x, grid.y, grid.z, block.x, block.y, block.z, shmem);
    etp_emu_set_error (cudaErrorInvalidConfiguration);
    return;
  }
  g_grid = grid;
  g_block = block;
  g_fn = &fn;
  nthreads = (int) block.x;
  if (fibers.size () < (size_t) nthreads) {
    fibers.resize (nthreads);
    for (auto &f : fibers)
      f.stack.resize (STACK);
  }
  warps.resize ((nthreads + 31) / 32);
  dyn_smem.assign (shmem + 16, (char) 0xa5);
  for (unsigned bz = 0; bz < grid.z; bz++)
    for (unsigned by = 0; by < grid.y; by++)
      for (unsigned bx = 0; bx < grid.x; bx++) {
        g_bidx = dim3 (bx, by, bz);
        alive = nthreads;
        bar_arrived = 0;
        for (auto &w : warps) {
          w.arrived = 0;
          w.alive = 0;
        }
        for (int t = 0; t < nthreads; t++) {
          Fiber &f = fibers[t];
          f.done = false;
          f.wait_on = NULL;
          warps[t / 32].alive++;
          getcontext (&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.data ();
          f.ctx.uc_stack.ss_size = STACK;
          f.ctx.uc_link = &sched;
          makecontext (&f.ctx, trampoline, 0);
        }
        while (alive > 0) {
          unsigned long before = progress;
          for (int t = 0; t < nthreads; t++) {
            if (fibers[t].done || (fibers[t].wait_on && *fibers[t].wait_on
                    == fibers[t].wait_gen))
              continue;
            cur = t;
            swapcontext (&sched, &fibers[t].ctx);
          }
          if (alive > 0 && progress == before) {
            fprintf (stderr, "cuda-emu: deadlock in block (%u,%u,%u): threads wait at a "
                "barrier that others never reach\n", bx, by, bz);
            abort ();
          }
        }
      }
}

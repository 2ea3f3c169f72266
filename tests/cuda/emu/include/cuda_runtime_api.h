/* CPU emulation of the subset of the CUDA runtime API that models/cuda uses
 * (tests/cuda/emu, see run_emulated.sh). Not the real header: only what the
 * backend calls, with the same names and meanings. */
#ifndef ETP_EMU_CUDA_RUNTIME_API_H
#define ETP_EMU_CUDA_RUNTIME_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
} cudaError_t;

typedef struct EtpEmuStream *cudaStream_t;
typedef struct EtpEmuEvent *cudaEvent_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
};

#define cudaStreamNonBlocking 0x01
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

struct cudaDeviceProp {
  char name[256];
  int major, minor;
  int multiProcessorCount;
};

struct cudaFuncAttributes {
  int maxThreadsPerBlock;
};

cudaError_t cudaGetDeviceCount (int *count);
cudaError_t cudaSetDevice (int device);
cudaError_t cudaGetDeviceProperties (struct cudaDeviceProp *prop, int device);
const char *cudaGetErrorString (cudaError_t e);
const char *cudaGetErrorName (cudaError_t e);
cudaError_t cudaGetLastError (void);
cudaError_t cudaMalloc (void **p, size_t n);
cudaError_t cudaFree (void *p);
cudaError_t cudaHostAlloc (void **p, size_t n, unsigned flags);
cudaError_t cudaFreeHost (void *p);
cudaError_t cudaMemcpyAsync (void *dst, const void *src, size_t n, enum cudaMemcpyKind k,
                             cudaStream_t st);
cudaError_t cudaMemsetAsync (void *dst, int v, size_t n, cudaStream_t st);
cudaError_t cudaStreamCreateWithFlags (cudaStream_t *st, unsigned flags);
cudaError_t cudaStreamDestroy (cudaStream_t st);
cudaError_t cudaStreamSynchronize (cudaStream_t st);
cudaError_t cudaEventCreateWithFlags (cudaEvent_t *ev, unsigned flags);
cudaError_t cudaEventDestroy (cudaEvent_t ev);
cudaError_t cudaEventRecord (cudaEvent_t ev, cudaStream_t st);
cudaError_t cudaEventSynchronize (cudaEvent_t ev);
cudaError_t cudaFuncGetAttributes (struct cudaFuncAttributes *attr, const void *fn);

/* emulator internals shared with the kernel emulation */
void etp_emu_set_error (cudaError_t e);
int etp_emu_is_device_ptr (const void *p, size_t n);

#ifdef __cplusplus
}
#endif

#endif

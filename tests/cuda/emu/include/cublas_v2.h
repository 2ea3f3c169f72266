/* CPU emulation of the cuBLAS calls models/cuda makes (tests/cuda/emu):
 * reference column-major loops that also check the argument rules cuBLAS
 * checks (leading dimensions), so wrong ld/stride use fails here too. */
#ifndef ETP_EMU_CUBLAS_V2_H
#define ETP_EMU_CUBLAS_V2_H

#include "cuda_runtime_api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct EtpEmuBlas *cublasHandle_t;
typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_INVALID_VALUE = 7,
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
typedef enum { CUDA_R_32F = 0, CUDA_R_16BF = 14 } cudaDataType;
typedef enum { CUBLAS_COMPUTE_32F = 68 } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

cublasStatus_t cublasCreate (cublasHandle_t *h);
cublasStatus_t cublasDestroy (cublasHandle_t h);
cublasStatus_t cublasSetStream (cublasHandle_t h, cudaStream_t st);
cublasStatus_t cublasSetMathMode (cublasHandle_t h, cublasMath_t m);
const char *cublasGetStatusString (cublasStatus_t s);
cublasStatus_t cublasSgemm (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                            int m, int n, int k, const float *alpha, const float *A, int lda,
                            const float *B, int ldb, const float *beta, float *C, int ldc);
cublasStatus_t cublasSgemmStridedBatched (cublasHandle_t h, cublasOperation_t ta,
                                          cublasOperation_t tb, int m, int n, int k,
                                          const float *alpha, const float *A, int lda,
                                          long long sa, const float *B, int ldb, long long sb,
                                          const float *beta, float *C, int ldc, long long sc,
                                          int batch);
cublasStatus_t cublasGemmStridedBatchedEx (cublasHandle_t h, cublasOperation_t ta,
                                           cublasOperation_t tb, int m, int n, int k,
                                           const void *alpha, const void *A, cudaDataType at,
                                           int lda, long long sa, const void *B,
                                           cudaDataType bt, int ldb, long long sb,
                                           const void *beta, void *C, cudaDataType ct, int ldc,
                                           long long sc, int batch, cublasComputeType_t comp,
                                           cublasGemmAlgo_t algo);

#ifdef __cplusplus
}
#endif

#endif

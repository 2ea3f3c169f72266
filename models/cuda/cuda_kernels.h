/* The CUDA backend's own kernels (cuda_kernels.cu), callable from C.
 *
 * Private to models/cuda/: the backend (cuda_backend.c) calls these
 * launchers; model code uses engine/engine.h. Every launcher enqueues its
 * kernels on @st and returns cudaGetLastError() (launch errors; faults inside
 * a kernel show up at the next synchronisation). Pointers are device
 * pointers; scratch arguments (ws*) are device workspace of the documented
 * size, owned by the caller.
 *
 * Tensor layouts are the engine's: (n, c, l) row-major activations, row-major
 * matrices. The conv kernels work on a "chunk" of nc samples starting at
 * sample n0, in the column layout (rows, nc * l_out): row r of the im2col
 * matrix holds, for every sample of the chunk one after the other, the l_out
 * input taps of (channel, kernel offset) r. The forward and backward-data
 * products write / read the (n, c, l) tensors directly (one strided-batched
 * sgemm over the chunk's samples); backward-weight first gathers dy into
 * (c_out, nc * l_out) so that one split-K product covers the chunk. */
#ifndef ETP_CUDA_KERNELS_H
#define ETP_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status word (4 ints in device memory) the kernels write on a
 * data-dependent error, first one wins: code, then three integers of detail. */
enum {
  ETP_CUK_OK = 0,
  ETP_CUK_BAD_TARGET = 1,   /* softmax_xent: detail = row, target, classes */
  ETP_CUK_BAD_TOKEN = 2,    /* bert embed: detail = row, id, vocab size */
  ETP_CUK_TOO_LONG = 3,     /* bert embed: detail = row, position, max positions */
};

/* Reduction partial counts (size the double scratch with these). */
#define ETP_CUK_SUMSQ_BLOCKS 512

typedef struct {
  int n0, nc;               /* chunk: samples [n0, n0 + nc) */
  int c_in, l_in, c_out, kernel, stride, padding, l_out;
} EtpCukConv;

/* TRUE-ish check that this binary has code for the current device:
 * cudaSuccess, or the error (cudaErrorNoKernelImageForDevice, ...). */
cudaError_t etp_cuk_probe (void);

/* ---------------------------------------------------------- element-wise */
cudaError_t etp_cuk_add (cudaStream_t st, size_t n, const float *a, const float *b, float *y);
cudaError_t etp_cuk_scale (cudaStream_t st, size_t n, float *x, float alpha);
cudaError_t etp_cuk_relu (cudaStream_t st, size_t n, const float *x, float *y);
cudaError_t etp_cuk_relu_bwd (cudaStream_t st, size_t n, const float *y, const float *dy,
                              float *dx);
/* *out = sum x^2 (float); ws: ETP_CUK_SUMSQ_BLOCKS doubles. */
cudaError_t etp_cuk_sumsq (cudaStream_t st, size_t n, const float *x, float *out, double *ws);
/* torch.optim.Adam/AdamW step, same arithmetic as the CPU backend. */
cudaError_t etp_cuk_adam (cudaStream_t st, size_t n, float *p, const float *g, float *m,
                          float *v, float lr_t, float b1, float b2, float eps, float wd,
                          float decay, float inv_sqrt_bc2);
cudaError_t etp_cuk_f32_to_bf16 (cudaStream_t st, size_t n, const float *src, uint16_t *dst);
cudaError_t etp_cuk_bf16_to_f32 (cudaStream_t st, size_t n, const uint16_t *src, float *dst);
/* y[r, :] = v (rows x cols), e.g. a bias broadcast before a GEMM with beta 1. */
cudaError_t etp_cuk_broadcast_rows (cudaStream_t st, int rows, int cols, const float *v,
                                    float *y);
/* colsum[j] += sum_i x[i, j] over a (rows x cols) matrix. */
cudaError_t etp_cuk_colsum_acc (cudaStream_t st, int rows, int cols, const float *x,
                                float *colsum);
/* rowsum[i] += sum_j x[i, j] over a (rows x cols) matrix (row stride ld). */
cudaError_t etp_cuk_rowsum_acc (cudaStream_t st, int rows, int cols, long ld, const float *x,
                                float *rowsum);
/* y[e] += sum_{g < groups} parts[g * n + e] (split-K reduction). */
cudaError_t etp_cuk_sum_parts_acc (cudaStream_t st, size_t n, int groups, const float *parts,
                                   float *y);

/* ---------------------------------------------------------------- conv1d */
/* col (c_in*kernel, nc*l_out) from x (N, c_in, l_in): zero padding. With
 * @bf16 the taps are rounded to bfloat16 and col is uint16_t. */
cudaError_t etp_cuk_im2col (cudaStream_t st, const EtpCukConv *s, const float *x, void *col,
                            int bf16);
/* dx[n0+i, ci, t] (=, or += when @accumulate) sum of the col entries that
 * im2col read from (ci, t): col2im gather, no atomics. */
cudaError_t etp_cuk_col2im (cudaStream_t st, const EtpCukConv *s, const float *col, float *dx,
                            int accumulate);
/* In place on the chunk's outputs: y[n0+i, o, j] = relu?(y + bias[o] +
 * residual[n0+i, o, j]); bias, residual optional. */
cudaError_t etp_cuk_conv_epilogue (cudaStream_t st, const EtpCukConv *s, const float *bias,
                                   const float *residual, int relu, float *y);
/* dyT[o, i*l_out + j] = dy[n0+i, o, j]. */
cudaError_t etp_cuk_conv_gather_dy (cudaStream_t st, const EtpCukConv *s, const float *dy,
                                    float *dyT);

/* ------------------------------------------------------------- batchnorm */
/* Training forward: batch statistics (two passes: mean, then squared
 * deviations; float partials per (channel, split), combined in double),
 * running statistics, save_mean/save_invstd, then the fused
 * relu?(bn(x) + residual). ws: 2 * c * ETP_CUK_BN_MAX_SPLITS floats. */
#define ETP_CUK_BN_MAX_SPLITS 64
cudaError_t etp_cuk_bn_forward_train (cudaStream_t st, int n, int c, int l, const float *x,
                                      const float *gamma, const float *beta,
                                      float *rmean, float *rvar, float momentum, float eps,
                                      const float *residual, int relu, float *y,
                                      float *save_mean, float *save_invstd, float *ws);
cudaError_t etp_cuk_bn_forward_eval (cudaStream_t st, int n, int c, int l, const float *x,
                                     const float *gamma, const float *beta,
                                     const float *rmean, const float *rvar, float eps,
                                     const float *residual, int relu, float *y);
/* ws: 2 * c * ETP_CUK_BN_MAX_SPLITS + 3 * c floats. */
cudaError_t etp_cuk_bn_backward (cudaStream_t st, int n, int c, int l, const float *x,
                                 const float *gamma, const float *save_mean,
                                 const float *save_invstd, const float *dy,
                                 const float *y_relu, float *dx, float *dgamma, float *dbeta,
                                 float *dres, float *ws);
cudaError_t etp_cuk_bn_fold (cudaStream_t st, int c_out, int row, const float *w,
                             const float *bias_in, const float *gamma, const float *beta,
                             const float *rmean, const float *rvar, float eps, float *w_out,
                             float *b_out);

/* ------------------------------------------------------------------ pool */
cudaError_t etp_cuk_avgpool_forward (cudaStream_t st, int n, int c, int l, const float *x,
                                     float *y);
cudaError_t etp_cuk_avgpool_backward (cudaStream_t st, int n, int c, int l, const float *dy,
                                      float *dx, int accumulate);

/* ------------------------------------------------------------ row-wise ops */
cudaError_t etp_cuk_l2norm_forward (cudaStream_t st, int b, int d, float eps, const float *x,
                                    float *y);
cudaError_t etp_cuk_l2norm_backward (cudaStream_t st, int b, int d, float eps, const float *x,
                                     const float *dy, float *dx);
/* ws: b doubles. Bad targets set @status (ETP_CUK_BAD_TARGET) and make the
 * loss NaN. */
cudaError_t etp_cuk_softmax_xent (cudaStream_t st, int b, int c, const float *logits,
                                  const int32_t *targets, float *loss, float *dlogits,
                                  double *ws, int *status);
/* CLIP loss around raw = a b_^T (b x b, computed by the caller with cuBLAS):
 * L = exp(*logit_scale) * raw; writes logits_out (optional), *loss,
 * dlogit_scale (optional, +=) and gs = exp(logit_scale) * dloss/dL (b x b,
 * for the caller's da = gs b_, db = gs^T a). ws: 5 * b doubles. */
cudaError_t etp_cuk_clip_loss (cudaStream_t st, int b, const float *raw,
                               const float *logit_scale, float *loss, float *dlogit_scale,
                               float *logits_out, float *gs, double *ws);

/* ------------------------------------------------------------------ BERT
 * (cuda_bert.cu; the packed-sequence layout of models/text/bert.c). */
typedef struct {
  int32_t start, rows;      /* first row and row count of one sequence */
} EtpCukBertSeq;

/* grid over the sequences' rows; bad ids / positions set @status and leave
 * the row unwritten. */
cudaError_t etp_cuk_bert_embed (cudaStream_t st, int n_seqs, int max_rows,
                                const EtpCukBertSeq *seqs, const int32_t *ids,
                                const float *word, int vocab, const float *pos, int max_pos,
                                const float *type, int H, float *out, int *status);
cudaError_t etp_cuk_bert_layernorm (cudaStream_t st, int R, int H, float eps, const float *x,
                                    const float *res, const float *g, const float *b,
                                    float *out);
cudaError_t etp_cuk_bert_gelu (cudaStream_t st, size_t n, int tanh_form, float *x);
cudaError_t etp_cuk_tanh (cudaStream_t st, size_t n, float *x);
cudaError_t etp_cuk_bert_attention (cudaStream_t st, int n_seqs, int max_rows,
                                    const EtpCukBertSeq *seqs, const int32_t *keymask,
                                    int heads, int H, const float *q, const float *k,
                                    const float *v, float *ctx);
cudaError_t etp_cuk_bert_pool (cudaStream_t st, int n_seqs, const EtpCukBertSeq *seqs,
                               const int32_t *keymask, int H, const float *hidden, float *cls,
                               float *mean);

#ifdef __cplusplus
}
#endif

#endif

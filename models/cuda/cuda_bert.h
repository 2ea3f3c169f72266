/* BERT forward ops on the CUDA backend (models/cuda/cuda_bert.cu), for the
 * text side (models/text/bert.c) to run a frozen BERT on the GPU. They
 * mirror bert.c's steps one function each, over DEVICE memory of a CUDA
 * EtpBackend (etp_backend_alloc / upload), enqueued on the backend's stream
 * with the engine's sticky-error rules; the matrix products are
 * etp_linear_forward (cuBLAS). Only present in builds with the CUDA backend
 * (ETP_HAVE_CUDA); on another backend kind every call records an
 * ETP_ERROR_UNSUPPORTED error. One layer, as bert.c runs it:
 *
 *   etp_linear_forward (be, R, H, H, x, wq, bq, q);        // and k, v
 *   etp_cuda_bert_attention (be, n_seqs, max_rows, seqs, keymask, heads, H,
 *                            q, k, v, ctx);
 *   etp_linear_forward (be, R, H, H, ctx, wo, bo, a);
 *   etp_cuda_bert_layernorm (be, R, H, eps, a, x, ln1_g, ln1_b, a);
 *   etp_linear_forward (be, R, H, I, a, wi, bi, inter);
 *   etp_cuda_bert_gelu (be, (size_t) R * I, tanh_form, inter);
 *   etp_linear_forward (be, R, I, H, inter, wo2, bo2, x);
 *   etp_cuda_bert_layernorm (be, R, H, eps, x, a, ln2_g, ln2_b, x);
 */
#ifndef ETP_CUDA_CUDA_BERT_H
#define ETP_CUDA_CUDA_BERT_H

#include "engine/engine.h"

G_BEGIN_DECLS

/* One packed sequence: rows [start, start + rows) of the (R x H) activations
 * (bert.c's BertSeq). Arrays of these live in device memory. */
typedef struct {
  int32_t start, rows;
} EtpCudaBertSeq;

/* out[r] = word[ids[r]] + pos[r - start] + type[0] for every row of every
 * sequence (@max_rows: the longest). Ids outside [0, vocab) or positions
 * beyond max_pos are an ETP_ERROR_INVALID error (found on the device,
 * reported at the next synchronisation). */
void etp_cuda_bert_embed (EtpBackend *be, int n_seqs, int max_rows, const EtpCudaBertSeq *seqs,
                          const int32_t *ids, const float *word, int vocab, const float *pos,
                          int max_pos, const float *type, int H, float *out);
/* out = LayerNorm (x + res) over rows of H (res may be NULL; out may alias x
 * or res). */
void etp_cuda_bert_layernorm (EtpBackend *be, int R, int H, float eps, const float *x,
                              const float *res, const float *gamma, const float *beta,
                              float *out);
/* In place: x = gelu (x), erf form (BERT's "gelu") unless @tanh_form. */
void etp_cuda_bert_gelu (EtpBackend *be, size_t n, gboolean tanh_form, float *x);
/* In place: x = tanh (x) (the pooler). */
void etp_cuda_tanh (EtpBackend *be, size_t n, float *x);
/* Multi-head self-attention of every sequence over its own rows; q, k, v,
 * ctx are (R x H) with head h in columns [h*H/heads, (h+1)*H/heads).
 * keymask (R int32, 0 = padding key) may be NULL. max_rows <= 8192. */
void etp_cuda_bert_attention (EtpBackend *be, int n_seqs, int max_rows,
                              const EtpCudaBertSeq *seqs, const int32_t *keymask, int heads,
                              int H, const float *q, const float *k, const float *v,
                              float *ctx);
/* Per sequence: cls (n_seqs x H) = its first row, mean (n_seqs x H) = the
 * mean of its unmasked rows; either may be NULL. */
void etp_cuda_bert_pool (EtpBackend *be, int n_seqs, const EtpCudaBertSeq *seqs,
                         const int32_t *keymask, int H, const float *hidden, float *cls,
                         float *mean);

G_END_DECLS

#endif

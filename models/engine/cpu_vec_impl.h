/* Loop kernels of the CPU backend, written once with GCC vector extensions
 * (16 floats per vector) and compiled by cpu_vec.c for several instruction
 * sets (target pragmas): generic x86-64, AVX2+FMA, AVX-512. Included with
 * VEC_NAME(x) defined to give each copy its own names. */

typedef float VT __attribute__ ((vector_size (64)));
typedef int VI __attribute__ ((vector_size (64)));

static inline __attribute__ ((always_inline)) VT VEC_NAME (ld) (const float *p) { VT v; __builtin_memcpy (&v, p, sizeof v); return v; }
static inline __attribute__ ((always_inline)) void VEC_NAME (st) (float *p, VT v) { __builtin_memcpy (p, &v, sizeof v); }
static inline __attribute__ ((always_inline)) VT VEC_NAME (splat) (float f) { return (VT) { f, f, f, f, f, f, f, f, f, f, f, f, f, f, f, f }; }
static inline __attribute__ ((always_inline)) float VEC_NAME (hsum) (VT v)
{
  float s = 0.f;
  for (int i = 0; i < 16; i++)
    s += v[i];
  return s;
}
/* a where m is true (all ones), else 0 */
static inline __attribute__ ((always_inline)) VT VEC_NAME (keep) (VI m, VT a) { return (VT) ((VI) a & m); }
static inline __attribute__ ((always_inline)) VT VEC_NAME (vmax0) (VT v)
{
  VT z = VEC_NAME (splat) (0.f);
  return VEC_NAME (keep) (v > z, v);
}
#define LD VEC_NAME (ld)
#define ST VEC_NAME (st)
#define SPLAT VEC_NAME (splat)
#define HSUM VEC_NAME (hsum)
#define VMAX0 VEC_NAME (vmax0)

static float
VEC_NAME (sum) (const float *x, size_t n)
{
  VT a0 = SPLAT (0), a1 = SPLAT (0);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a0 += LD (x + i);
    a1 += LD (x + i + 16);
  }
  for (; i + 16 <= n; i += 16)
    a0 += LD (x + i);
  float s = HSUM (a0 + a1);
  for (; i < n; i++)
    s += x[i];
  return s;
}

static float
VEC_NAME (sumsq_dev) (const float *x, size_t n, float mu)
{
  VT a0 = SPLAT (0), a1 = SPLAT (0), m = SPLAT (mu);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    VT d0 = LD (x + i) - m, d1 = LD (x + i + 16) - m;
    a0 += d0 * d0;
    a1 += d1 * d1;
  }
  for (; i + 16 <= n; i += 16) {
    VT d0 = LD (x + i) - m;
    a0 += d0 * d0;
  }
  float s = HSUM (a0 + a1);
  for (; i < n; i++)
    s += (x[i] - mu) * (x[i] - mu);
  return s;
}

static void
VEC_NAME (affine) (const float *x, size_t n, float a, float b, const float *r,
                   gboolean relu, float *y)
{
  VT va = SPLAT (a), vb = SPLAT (b);
  size_t i = 0;
  if (r) {
    for (; i + 16 <= n; i += 16) {
      VT v = LD (x + i) * va + vb + LD (r + i);
      ST (y + i, relu ? VMAX0 (v) : v);
    }
    for (; i < n; i++) {
      float v = x[i] * a + b + r[i];
      y[i] = relu && v < 0.f ? 0.f : v;
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      VT v = LD (x + i) * va + vb;
      ST (y + i, relu ? VMAX0 (v) : v);
    }
    for (; i < n; i++) {
      float v = x[i] * a + b;
      y[i] = relu && v < 0.f ? 0.f : v;
    }
  }
}

static void
VEC_NAME (bias_res_relu) (float *y, size_t n, float b, const float *r, gboolean relu)
{
  VEC_NAME (affine) (y, n, 1.f, b, r, relu, y);
}

static void
VEC_NAME (bn_bwd_reduce) (const float *x, const float *dy, const float *yr, size_t n,
                          float mu, float *gout, float *sum_g, float *sum_gx)
{
  VT sg = SPLAT (0), sgx = SPLAT (0), z = SPLAT (0), vmu = SPLAT (mu);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    VT g = LD (dy + i);
    if (yr)
      g = VEC_NAME (keep) (LD (yr + i) > z, g);
    if (gout)
      ST (gout + i, g);
    sg += g;
    sgx += g * (LD (x + i) - vmu);
  }
  float a = HSUM (sg), bsum = HSUM (sgx);
  for (; i < n; i++) {
    float g = (yr && !(yr[i] > 0.f)) ? 0.f : dy[i];
    if (gout)
      gout[i] = g;
    a += g;
    bsum += g * (x[i] - mu);
  }
  *sum_g = a;
  *sum_gx = bsum;
}

static void
VEC_NAME (bn_bwd_apply) (const float *x, const float *dy, const float *yr, size_t n,
                         float k1, float k2, float k3, float *dx)
{
  VT v1 = SPLAT (k1), v2 = SPLAT (k2), v3 = SPLAT (k3), z = SPLAT (0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    VT g = LD (dy + i);
    if (yr)
      g = VEC_NAME (keep) (LD (yr + i) > z, g);
    ST (dx + i, g * v1 + LD (x + i) * v2 + v3);
  }
  for (; i < n; i++) {
    float g = (yr && !(yr[i] > 0.f)) ? 0.f : dy[i];
    dx[i] = g * k1 + x[i] * k2 + k3;
  }
}

static void
VEC_NAME (relu) (const float *x, size_t n, float *y)
{
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    ST (y + i, VMAX0 (LD (x + i)));
  for (; i < n; i++)
    y[i] = x[i] > 0.f ? x[i] : 0.f;
}

static void
VEC_NAME (relu_bwd) (const float *y, const float *dy, size_t n, float *dx)
{
  VT z = SPLAT (0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    ST (dx + i, VEC_NAME (keep) (LD (y + i) > z, LD (dy + i)));
  for (; i < n; i++)
    dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

static void
VEC_NAME (add) (const float *a, const float *b, size_t n, float *y)
{
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    ST (y + i, LD (a + i) + LD (b + i));
  for (; i < n; i++)
    y[i] = a[i] + b[i];
}

static void
VEC_NAME (axpy) (float alpha, const float *x, size_t n, float *y)
{
  VT va = SPLAT (alpha);
  size_t i = 0;
  for (; i + 16 <= n; i += 16)
    ST (y + i, LD (y + i) + va * LD (x + i));
  for (; i < n; i++)
    y[i] += alpha * x[i];
}

static double
VEC_NAME (dot) (const float *a, const float *b, size_t n)
{
  double s = 0.0;
  size_t i = 0;
  while (i + 16 <= n) {
    /* blocks of at most 4096 in float, summed in double */
    size_t e = MIN (n, i + 4096);
    VT acc = SPLAT (0);
    for (; i + 16 <= e; i += 16)
      acc += LD (a + i) * LD (b + i);
    s += HSUM (acc);
  }
  for (; i < n; i++)
    s += (double) a[i] * b[i];
  return s;
}

/* PyTorch Adam/AdamW: g' = g + wd p (L2, decay = 1) or p *= decay (AdamW,
 * wd = 0 here); m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
 * p -= lr_t * m / (sqrt(v) * inv_sqrt_bc2 + eps), lr_t = lr / bc1. */
static void
VEC_NAME (adam) (float *p, const float *g, float *m, float *v, size_t n, float lr_t,
                 float b1, float b2, float eps, float wd, float decay, float inv_sqrt_bc2)
{
  VT vb1 = SPLAT (b1), vb2 = SPLAT (b2), vc1 = SPLAT (1.f - b1), vc2 = SPLAT (1.f - b2);
  VT vwd = SPLAT (wd), vdec = SPLAT (decay), vlr = SPLAT (lr_t), veps = SPLAT (eps);
  VT vibc = SPLAT (inv_sqrt_bc2);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    VT pp = LD (p + i) * vdec;
    VT gg = LD (g + i) + vwd * LD (p + i);
    VT mm = vb1 * LD (m + i) + vc1 * gg;
    VT vv = vb2 * LD (v + i) + vc2 * gg * gg;
    VT sq;
    for (int k = 0; k < 16; k++)
      sq[k] = sqrtf (vv[k]);
    ST (m + i, mm);
    ST (v + i, vv);
    ST (p + i, pp - vlr * mm / (sq * vibc + veps));
  }
  for (; i < n; i++) {
    float pp = p[i] * decay;
    float gg = g[i] + wd * p[i];
    float mm = b1 * m[i] + (1.f - b1) * gg;
    float vv = b2 * v[i] + (1.f - b2) * gg * gg;
    m[i] = mm;
    v[i] = vv;
    p[i] = pp - lr_t * mm / (sqrtf (vv) * inv_sqrt_bc2 + eps);
  }
}

const EtpCpuVec VEC_TABLE = {
  VEC_ISA,
  VEC_NAME (sum), VEC_NAME (sumsq_dev), VEC_NAME (affine), VEC_NAME (bias_res_relu),
  VEC_NAME (bn_bwd_reduce), VEC_NAME (bn_bwd_apply), VEC_NAME (relu), VEC_NAME (relu_bwd),
  VEC_NAME (add), VEC_NAME (axpy), VEC_NAME (dot), VEC_NAME (adam),
};

#undef LD
#undef ST
#undef SPLAT
#undef HSUM
#undef VMAX0

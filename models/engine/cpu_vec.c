/* Instantiates cpu_vec_impl.h for three instruction sets; the backend picks
 * one at run time (__builtin_cpu_supports in cpu.c). */
#include "config.h"
#include "engine/cpu.h"
#include <math.h>

/* 64-byte vectors passed between inlined helpers only */
#pragma GCC diagnostic ignored "-Wpsabi"

#define VEC_ISA "generic"
#define VEC_NAME(x) gen_##x
#define VEC_TABLE etp_cpu_vec_generic
#include "cpu_vec_impl.h"
#undef VEC_NAME
#undef VEC_ISA
#undef VEC_TABLE

#pragma GCC push_options
#pragma GCC target ("avx2,fma")
#define VEC_ISA "avx2"
#define VEC_NAME(x) avx2_##x
#define VEC_TABLE etp_cpu_vec_avx2
#include "cpu_vec_impl.h"
#undef VEC_NAME
#undef VEC_ISA
#undef VEC_TABLE
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target ("avx512f,avx512vl,avx512bw,avx512dq,fma")
#define VEC_ISA "avx512"
#define VEC_NAME(x) avx512_##x
#define VEC_TABLE etp_cpu_vec_avx512
#include "cpu_vec_impl.h"
#undef VEC_NAME
#undef VEC_ISA
#undef VEC_TABLE
#pragma GCC pop_options

/* The pointwise part of one LSTM step and of its backward (seq2seq/lstm_loop.py), each one pass over memory.
 *
 * float32, D directions of n rows; within a direction rows are contiguous (row stride H, or 4H for the gates),
 * each pointer comes with its direction stride. Masks are 0/1 (zoneout) or scaled dropout masks; NULL when off.
 * Built at first use with the C compiler (seq2seq/native.py); where none is found the step runs as torch ops.
 * Equations: docs/design.md §1 (the LSTM) and §2 (recurrent dropout d(g), RNNdrop on c, zoneout on c and h).
 */
#include <math.h>
#include <stddef.h>

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }

/* gates: (D, n, 4H) a W_hh^T in, plus gx (the step's W_ih x + b); [i f g o] after their nonlinearities out
 * (g before dropout).
 * c_out = (f c_prev + i g d) m_c, zoneout: c_prev where z_c; tc_out = tanh of it before zoneout;
 * h_out = o tc, zoneout: h_prev where z_h. Outputs contiguous (D, n, H). */
void lstm_fwd(int D, int n, int H, float *gates, long gs, const float *gx, long gxs, const float *c_prev, long cps, const float *h_prev,
              long hps, const float *g_mask, long gms, const float *c_mask, long cms, const float *zc, long zcs,
              const float *zh, long zhs, float *c_out, float *tc_out, float *h_out) {
    for (int d = 0; d < D; d++) {
        for (int r = 0; r < n; r++) {
            float *a = gates + d * gs + (long)r * 4 * H;
            const float *x = gx + d * gxs + (long)r * 4 * H;
            const float *cp = c_prev + d * cps + (long)r * H;
            const float *hp = h_prev + d * hps + (long)r * H;
            const float *gm = g_mask ? g_mask + d * gms + (long)r * H : NULL;
            const float *cm = c_mask ? c_mask + d * cms + (long)r * H : NULL;
            const float *z_c = zc ? zc + d * zcs + (long)r * H : NULL;
            const float *z_h = zh ? zh + d * zhs + (long)r * H : NULL;
            long o_ = (long)(d * n + r) * H;
#pragma omp simd
            for (int k = 0; k < H; k++) {
                float i = sigm(a[k] + x[k]), f = sigm(a[H + k] + x[H + k]);
                float g = tanhf(a[2 * H + k] + x[2 * H + k]), o = sigm(a[3 * H + k] + x[3 * H + k]);
                a[k] = i;
                a[H + k] = f;
                a[2 * H + k] = g;
                a[3 * H + k] = o;
                float gd = gm ? g * gm[k] : g;
                float c = f * cp[k] + i * gd;
                if (cm) c *= cm[k];
                float t = tanhf(c);
                float h = o * t;
                if (z_c) c = z_c[k] > 0.5f ? cp[k] : c;
                if (z_h) h = z_h[k] > 0.5f ? hp[k] : h;
                c_out[o_ + k] = c;
                tc_out[o_ + k] = t;
                h_out[o_ + k] = h;
            }
        }
    }
}

/* dL/dgates (into d_gates, (D, n, 4H), direction stride dgs), dL/dc_{t-1} through the cell (dc_prev) and the
 * part of dL/dh_{t-1} that zoneout passes straight (dh_keep, when zh), from dh (dL/dh_t from step t+1), d_out
 * (dL/dh_t from the layer's output) and dc (dL/dc_t). The rest of dL/dh_{t-1} is d_gates W_hh (a GEMM). */
void lstm_bwd(int D, int n, int H, const float *acts, long as, const float *tc, const float *c_prev, long cps,
              const float *g_mask, long gms, const float *c_mask, long cms, const float *zc, long zcs,
              const float *zh, long zhs, const float *dh, long dhs, const float *d_out, long dos, const float *dc,
              long dcs, float *d_gates, long dgs, float *dc_prev, float *dh_keep) {
    for (int d = 0; d < D; d++) {
        for (int r = 0; r < n; r++) {
            const float *a = acts + d * as + (long)r * 4 * H;
            float *dga = d_gates + d * dgs + (long)r * 4 * H;
            const float *cp = c_prev + d * cps + (long)r * H;
            const float *gm = g_mask ? g_mask + d * gms + (long)r * H : NULL;
            const float *cm = c_mask ? c_mask + d * cms + (long)r * H : NULL;
            const float *z_c = zc ? zc + d * zcs + (long)r * H : NULL;
            const float *z_h = zh ? zh + d * zhs + (long)r * H : NULL;
            const float *dhr = dh + d * dhs + (long)r * H;
            const float *dor = d_out + d * dos + (long)r * H;
            const float *dcr = dc + d * dcs + (long)r * H;
            long o_ = (long)(d * n + r) * H;
#pragma omp simd
            for (int k = 0; k < H; k++) {
                float i = a[k], f = a[H + k], g = a[2 * H + k], o = a[3 * H + k], t = tc[o_ + k];
                float dht = dhr[k] + dor[k], dct = dcr[k], dck = 0.0f;
                if (z_h) {
                    int keep = z_h[k] > 0.5f;
                    dh_keep[o_ + k] = keep ? dht : 0.0f;
                    dht = keep ? 0.0f : dht;
                }
                if (z_c) {
                    int keep = z_c[k] > 0.5f;
                    dck = keep ? dct : 0.0f;
                    dct = keep ? 0.0f : dct;
                }
                float d_o = dht * t;
                dct += dht * o * (1.0f - t * t);
                if (cm) dct *= cm[k];
                float gd = gm ? g * gm[k] : g;
                float d_g = dct * i;
                if (gm) d_g *= gm[k];
                dga[k] = dct * gd * i * (1.0f - i);
                dga[H + k] = dct * cp[k] * f * (1.0f - f);
                dga[2 * H + k] = d_g * (1.0f - g * g);
                dga[3 * H + k] = d_o * o * (1.0f - o);
                dc_prev[o_ + k] = dct * f + dck;
            }
        }
    }
}

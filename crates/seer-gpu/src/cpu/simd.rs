//! The recurrences' inner loops at the widest SIMD the CPU has (AVX2 + FMA where present),
//! chosen at run time by pulp, which keeps this crate free of `unsafe`: the product of a block's
//! states with W (no packing: W's rows are read as they lie, and each output sums its inner
//! dimension in order, so a row's result does not depend on how many rows share the call) and
//! the LSTM's gate activations and cell update.

use pulp::{Arch, Simd, WithSimd};

use super::math::{EXP_POLY, LN2_HI, LN2_LO, LOG2E, ROUND, TANH_POLY};

// e^88 keeps 2^n's exponent below the all-ones pattern (n ≤ 127)
const EXP_HI: f32 = 88.0;
const EXP_LO: f32 = -87.336_55;

/// Keeps NaN where the clamps of the polynomial forms would have turned it into a number.
#[inline(always)]
fn keep_nan<S: Simd>(s: S, x: S::f32s, y: S::f32s) -> S::f32s {
    s.select_f32s(s.equal_f32s(x, x), y, x)
}

#[inline(always)]
fn exp<S: Simd>(s: S, x0: S::f32s) -> S::f32s {
    let x = s.min_f32s(s.max_f32s(x0, s.splat_f32s(EXP_LO)), s.splat_f32s(EXP_HI));
    let t = s.mul_add_e_f32s(x, s.splat_f32s(LOG2E), s.splat_f32s(ROUND));
    let n = s.sub_f32s(t, s.splat_f32s(ROUND));
    let r = s.sub_f32s(
        s.sub_f32s(x, s.mul_f32s(n, s.splat_f32s(LN2_HI))),
        s.mul_f32s(n, s.splat_f32s(LN2_LO)),
    );
    let mut p = s.splat_f32s(EXP_POLY[0]);
    for c in &EXP_POLY[1..] {
        p = s.mul_add_e_f32s(p, r, s.splat_f32s(*c));
    }
    let e = s.add_f32s(s.mul_add_e_f32s(p, s.mul_f32s(r, r), r), s.splat_f32s(1.0));
    // t's low mantissa bits hold n: 2^n is (bits(t) − bits(ROUND) + 127) << 23
    let bits = s.add_u32s(
        s.transmute_u32s_f32s(t),
        s.splat_u32s(127u32.wrapping_sub(ROUND.to_bits())),
    );
    let scale = s.transmute_f32s_u32s(s.wrapping_dyn_shl_u32s(bits, s.splat_u32s(23)));
    keep_nan(s, x0, s.mul_f32s(e, scale))
}

#[inline(always)]
fn sigmoid<S: Simd>(s: S, x0: S::f32s) -> S::f32s {
    let x = s.min_f32s(s.max_f32s(x0, s.splat_f32s(-30.0)), s.splat_f32s(30.0));
    let one = s.splat_f32s(1.0);
    let y = s.div_f32s(
        one,
        s.add_f32s(one, exp(s, s.sub_f32s(s.splat_f32s(0.0), x))),
    );
    keep_nan(s, x0, y)
}

#[inline(always)]
fn tanh<S: Simd>(s: S, x0: S::f32s) -> S::f32s {
    let x = s.min_f32s(s.max_f32s(x0, s.splat_f32s(-15.0)), s.splat_f32s(15.0));
    let a = s.abs_f32s(x);
    let z = s.mul_f32s(x, x);
    let mut p = s.splat_f32s(TANH_POLY[0]);
    for c in &TANH_POLY[1..] {
        p = s.mul_add_e_f32s(p, z, s.splat_f32s(*c));
    }
    let small = s.mul_add_e_f32s(s.mul_f32s(x, z), p, x);
    let one = s.splat_f32s(1.0);
    let e = exp(s, s.add_f32s(a, a));
    let large = s.sub_f32s(one, s.div_f32s(s.splat_f32s(2.0), s.add_f32s(e, one)));
    let signed = s.select_f32s(
        s.less_than_f32s(x, s.splat_f32s(0.0)),
        s.sub_f32s(s.splat_f32s(0.0), large),
        large,
    );
    let y = s.select_f32s(s.less_than_f32s(a, s.splat_f32s(0.625)), small, signed);
    keep_nan(s, x0, y)
}

#[derive(Clone, Copy)]
enum Op {
    Sigmoid,
    Tanh,
}

#[inline(always)]
fn apply<S: Simd>(s: S, op: Op, x: S::f32s) -> S::f32s {
    match op {
        Op::Sigmoid => sigmoid(s, x),
        Op::Tanh => tanh(s, x),
    }
}

/// `op` over a slice, the tail through a partial register. An enum, not a closure: a closure's
/// call is not inlined into the target-feature context, and every intrinsic in it becomes a
/// function call.
#[inline(always)]
fn map<S: Simd>(s: S, v: &mut [f32], op: Op) {
    let (head, tail) = S::as_mut_simd_f32s(v);
    for x in head {
        *x = apply(s, op, *x);
    }
    if !tail.is_empty() {
        let x = s.partial_load_f32s(tail);
        s.partial_store_f32s(tail, apply(s, op, x));
    }
}

/// The first `C` registers of `v`, which holds at least `C` registers' worth.
#[inline(always)]
fn registers<S: Simd, const C: usize>(v: &[f32]) -> [S::f32s; C] {
    let (v, _) = S::as_simd_f32s(v);
    *v.first_chunk::<C>()
        .expect("a tile's slice holds C registers")
}

/// z[n, g] += h[n, k] · w[k, g], row-major: tiles of 4 rows × 2 registers of columns held in
/// registers over the whole inner dimension (W read in place, never packed). Every output sums
/// j = 0..k in order whatever tile it falls in, so a row's result does not depend on n.
pub(crate) fn accumulate_product(
    arch: Arch,
    h: &[f32],
    n: usize,
    k: usize,
    w: &[f32],
    g: usize,
    z: &mut [f32],
) {
    accumulate_strided(
        arch,
        Strided { rows: k, data: h },
        n,
        k,
        Strided { rows: g, data: w },
        g,
        z,
        g,
    );
}

/// A row-major matrix whose rows start `rows` elements apart.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    pub(crate) rows: usize,
    pub(crate) data: &'a [f32],
}

/// `accumulate_product` over strided rows: z rows `z_stride` apart (a convolution's output
/// shifted by a tap, its input read in place).
#[allow(clippy::too_many_arguments)]
pub(crate) fn accumulate_strided(
    arch: Arch,
    h: Strided<'_>,
    n: usize,
    k: usize,
    w: Strided<'_>,
    g: usize,
    z: &mut [f32],
    z_stride: usize,
) {
    struct Product<'a> {
        h: &'a [f32],
        hs: usize,
        n: usize,
        k: usize,
        w: &'a [f32],
        ws: usize,
        g: usize,
        z: &'a mut [f32],
        zs: usize,
    }
    impl WithSimd for Product<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Product {
                h,
                hs,
                n,
                k,
                w,
                ws,
                g,
                z,
                zs,
            } = self;
            let st = (hs, ws, zs);
            let lanes = size_of::<S::f32s>() / 4;
            let chunks = g / lanes;
            let full = chunks * lanes;
            // columns outer, rows inner: a column group's slice of W (k × 64 floats at
            // AVX-512) stays in L1 while every row group passes over it
            let group = if lanes >= 16 { 4 } else { 2 };
            let mut c = 0;
            while c < chunks {
                let width = (chunks - c).min(group);
                let col = c * lanes;
                let mut r0 = 0;
                // no closures here: their calls would leave the target-feature context
                while r0 + 4 <= n {
                    match width {
                        4 => tile::<S, 4, 4>(s, h, k, w, z, st, r0, col),
                        3 => tile::<S, 4, 3>(s, h, k, w, z, st, r0, col),
                        2 => tile::<S, 4, 2>(s, h, k, w, z, st, r0, col),
                        _ => tile::<S, 4, 1>(s, h, k, w, z, st, r0, col),
                    }
                    r0 += 4;
                }
                for r in r0..n {
                    let mut cc = 0;
                    while cc < width {
                        if width - cc >= 2 {
                            tile::<S, 1, 2>(s, h, k, w, z, st, r, col + cc * lanes);
                            cc += 2;
                        } else {
                            tile::<S, 1, 1>(s, h, k, w, z, st, r, col + cc * lanes);
                            cc += 1;
                        }
                    }
                }
                c += width;
            }
            if full < g {
                for r in 0..n {
                    let tail = &mut z[r * zs + full..r * zs + g];
                    let mut a = s.partial_load_f32s(tail);
                    for j in 0..k {
                        let wv = s.partial_load_f32s(&w[j * ws + full..j * ws + g]);
                        a = s.mul_add_e_f32s(s.splat_f32s(h[r * hs + j]), wv, a);
                    }
                    s.partial_store_f32s(tail, a);
                }
            }
        }
    }

    /// Rows r0..r0+R, columns col..col+C·lanes.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn tile<S: Simd, const R: usize, const C: usize>(
        s: S,
        h: &[f32],
        k: usize,
        w: &[f32],
        z: &mut [f32],
        (hs, ws, zs): (usize, usize, usize),
        r0: usize,
        col: usize,
    ) {
        let width = C * (size_of::<S::f32s>() / 4);
        // every slice is cut to its exact length once, here, so the inner loop indexes with
        // nothing left to check: bounds checks were most of its instructions
        let h_rows: [&[f32]; R] = std::array::from_fn(|r| &h[(r0 + r) * hs..][..k]);
        let mut acc: [[S::f32s; C]; R] =
            std::array::from_fn(|r| registers::<S, C>(&z[(r0 + r) * zs + col..][..width]));
        for j in 0..k {
            let wv = registers::<S, C>(&w[j * ws + col..][..width]);
            for (row, h_row) in acc.iter_mut().zip(&h_rows) {
                let hj = s.splat_f32s(h_row[j]);
                for (a, v) in row.iter_mut().zip(&wv) {
                    *a = s.mul_add_e_f32s(hj, *v, *a);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let (out, _) = S::as_mut_simd_f32s(&mut z[(r0 + r) * zs + col..][..width]);
            out[..C].copy_from_slice(row);
        }
    }

    arch.dispatch(Product {
        h: h.data,
        hs: h.rows,
        n,
        k,
        w: w.data,
        ws: w.rows,
        g,
        z,
        zs: z_stride,
    });
}

/// One LSTM step for `n` rows: z [n, 4H] holds the pre-activations (i, f, g, o) and is left
/// holding the activations; c and h [n, H] are updated in place.
pub(crate) fn lstm_cell(arch: Arch, z: &mut [f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    struct Cell<'a> {
        z: &'a mut [f32],
        c: &'a mut [f32],
        h: &'a mut [f32],
        hidden: usize,
    }
    impl WithSimd for Cell<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Cell { z, c, h, hidden } = self;
            for ((zr, cr), hr) in z
                .chunks_mut(4 * hidden)
                .zip(c.chunks_mut(hidden))
                .zip(h.chunks_mut(hidden))
            {
                let (ifg, rest) = zr.split_at_mut(2 * hidden);
                let (gg, og) = rest.split_at_mut(hidden);
                map(s, ifg, Op::Sigmoid);
                map(s, gg, Op::Tanh);
                map(s, og, Op::Sigmoid);
                let (ig, fg) = ifg.split_at(hidden);
                // c = f·c + i·g, then h = o·tanh(c), a register at a time (the scalar loops
                // were half the cell's instructions); mul and add stay separate, as before
                let (i_v, i_t) = S::as_simd_f32s(ig);
                let (f_v, f_t) = S::as_simd_f32s(fg);
                let (g_v, g_t) = S::as_simd_f32s(gg);
                let (o_v, o_t) = S::as_simd_f32s(og);
                let (c_v, c_t) = S::as_mut_simd_f32s(cr);
                let (h_v, h_t) = S::as_mut_simd_f32s(hr);
                for (((((i, f), g), o), c), h) in
                    i_v.iter().zip(f_v).zip(g_v).zip(o_v).zip(c_v).zip(h_v)
                {
                    (*c, *h) = cell_update(s, *i, *f, *g, *o, *c);
                }
                if !c_t.is_empty() {
                    let (c, h) = cell_update(
                        s,
                        s.partial_load_f32s(i_t),
                        s.partial_load_f32s(f_t),
                        s.partial_load_f32s(g_t),
                        s.partial_load_f32s(o_t),
                        s.partial_load_f32s(c_t),
                    );
                    s.partial_store_f32s(c_t, c);
                    s.partial_store_f32s(h_t, h);
                }
            }
        }
    }
    arch.dispatch(Cell { z, c, h, hidden });
}

/// The LSTM's state update from its activated gates: (c', h') = (f·c + i·g, o·tanh(c')).
#[inline(always)]
fn cell_update<S: Simd>(
    s: S,
    i: S::f32s,
    f: S::f32s,
    g: S::f32s,
    o: S::f32s,
    c: S::f32s,
) -> (S::f32s, S::f32s) {
    let c = s.add_f32s(s.mul_f32s(f, c), s.mul_f32s(i, g));
    (c, s.mul_f32s(tanh(s, c), o))
}

/// A convolution's closing element-wise pass: `relu` then, with `residual`, relu(v + res).
pub(crate) fn relu_epilogue(arch: Arch, v: &mut [f32], relu: bool, residual: Option<&[f32]>) {
    struct Epilogue<'a> {
        v: &'a mut [f32],
        relu: bool,
        residual: Option<&'a [f32]>,
    }
    impl WithSimd for Epilogue<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            let Epilogue { v, relu, residual } = self;
            if !relu && residual.is_none() {
                return;
            }
            let zero = s.splat_f32s(0.0);
            let lanes = size_of::<S::f32s>() / 4;
            for (i, chunk) in v.chunks_mut(lanes).enumerate() {
                let mut x = s.partial_load_f32s(chunk);
                if relu {
                    x = s.max_f32s(x, zero);
                }
                if let Some(res) = residual {
                    let r = s.partial_load_f32s(&res[i * lanes..i * lanes + chunk.len()]);
                    x = s.max_f32s(s.add_f32s(x, r), zero);
                }
                s.partial_store_f32s(chunk, x);
            }
        }
    }
    arch.dispatch(Epilogue { v, relu, residual });
}

/// tanh over a slice (the Elman step).
pub(crate) fn tanh_in_place(arch: Arch, v: &mut [f32]) {
    struct Tanh<'a>(&'a mut [f32]);
    impl WithSimd for Tanh<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: Simd>(self, s: S) {
            map(s, self.0, Op::Tanh);
        }
    }
    arch.dispatch(Tanh(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_activations_and_product_match_the_scalar_forms() {
        let arch = Arch::new();
        let hidden = 13;
        let rows = 3;
        let z0: Vec<f32> = (0..rows * 4 * hidden)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let c0: Vec<f32> = (0..rows * hidden)
            .map(|i| (i as f32 - 20.0) / 9.0)
            .collect();
        let (mut z, mut c, mut h) = (z0.clone(), c0.clone(), vec![0.0; rows * hidden]);
        lstm_cell(arch, &mut z, &mut c, &mut h, hidden);
        use crate::cpu::math;
        for r in 0..rows {
            for u in 0..hidden {
                let g = |k: usize| z0[r * 4 * hidden + k * hidden + u];
                let (i, f, gg, o) = (
                    math::sigmoid(g(0)),
                    math::sigmoid(g(1)),
                    math::safe_tanh(g(2)),
                    math::sigmoid(g(3)),
                );
                let cc = f * c0[r * hidden + u] + i * gg;
                let hh = o * math::safe_tanh(cc);
                assert!((c[r * hidden + u] - cc).abs() <= 1e-6 * cc.abs().max(1.0));
                assert!(
                    (h[r * hidden + u] - hh).abs() <= 1e-6,
                    "{} vs {hh}",
                    h[r * hidden + u]
                );
            }
        }
        let mut v = vec![f32::NAN, 1e30, -1e30, 0.0, -1e-7, 3.0, -88.0];
        tanh_in_place(arch, &mut v);
        assert!(v[0].is_nan());
        assert_eq!(&v[1..4], &[1.0, -1.0, 0.0]);
        assert!((v[4] + 1e-7).abs() < 1e-13);
        // z += h·w for shapes that are not multiples of the register width: every tile shape
        // (4 rows × 1–4 registers, single rows, the partial-register tail) at 8 and 16 lanes
        for (n, k, g) in [(5, 7, 19), (9, 11, 83), (4, 3, 64), (13, 40, 160)] {
            let hs: Vec<f32> = (0..n * k).map(|i| (i as f32).sin()).collect();
            let w: Vec<f32> = (0..k * g).map(|i| (i as f32 * 0.3).cos()).collect();
            let mut z = vec![0.5f32; n * g];
            accumulate_product(arch, &hs, n, k, &w, g, &mut z);
            for r in 0..n {
                for col in 0..g {
                    let want: f64 = 0.5
                        + (0..k)
                            .map(|j| hs[r * k + j] as f64 * w[j * g + col] as f64)
                            .sum::<f64>();
                    assert!(
                        (z[r * g + col] as f64 - want).abs() < 1e-4,
                        "{n}x{k}x{g} {r},{col}"
                    );
                }
            }
        }
        let (n, k, g) = (5, 7, 19);
        let hs: Vec<f32> = (0..n * k).map(|i| (i as f32).sin()).collect();
        let w: Vec<f32> = (0..k * g).map(|i| (i as f32 * 0.3).cos()).collect();
        let mut z = vec![0.5f32; n * g];
        accumulate_product(arch, &hs, n, k, &w, g, &mut z);
        // a row's result does not depend on how many rows share the call
        let mut one = vec![0.5f32; g];
        accumulate_product(arch, &hs[2 * k..3 * k], 1, k, &w, g, &mut one);
        assert_eq!(one, z[2 * g..3 * g]);
    }
}

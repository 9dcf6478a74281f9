//! GPU vs f64 CPU reference for the LSTM and Elman recurrences (in-shader time loop).
//! Tolerance: rel 1e-4, abs 2e-5 — errors compound through time, but gates saturate them.

mod common;

use common::*;
use seer_gpu::ops::{self, RecurrentSpec};
use seer_gpu::reference;

const REL: f64 = 1e-4;
const ABS: f64 = 2e-5;

fn check_lstm(batch: usize, steps: usize, hidden: usize, reverse: bool, scale: f64, seed: u64) {
    check_lstm_chunk(batch, 0, steps, hidden, reverse, scale, seed);
}

/// `offset` series precede this chunk in every buffer but the input projection.
fn check_lstm_chunk(
    batch: usize,
    offset: usize,
    steps: usize,
    hidden: usize,
    reverse: bool,
    scale: f64,
    seed: u64,
) {
    let g = 4 * hidden;
    let all = offset + batch;
    let gx = rounded(&data(batch * steps * g, seed, -scale, scale));
    let w = rounded(&data(hidden * g, seed + 1, -0.5, 0.5));
    let h0 = rounded(&data(all * hidden, seed + 2, -1.0, 1.0));
    let c0 = rounded(&data(all * hidden, seed + 3, -1.0, 1.0));
    // write into the second half of 2H-wide rows, as a BiLSTM's backward direction does
    let spec = RecurrentSpec {
        batch,
        steps,
        hidden,
        reverse,
        out_stride: 2 * hidden,
        out_offset: hidden,
        series_offset: offset,
    };
    let out = zeros(&[all, steps, 2 * hidden]);
    let (h_n, c_n) = (zeros(&[all, hidden]), zeros(&[all, hidden]));
    let saved = zeros(&[all, steps, 5 * hidden]);
    let mut r = rec();
    ops::lstm_sequence(
        &mut r,
        &spec,
        &up(&gx, &[batch, steps, g]),
        &up(&w, &[hidden, g]),
        &up(&h0, &[all, hidden]),
        &up(&c0, &[all, hidden]),
        &out,
        &h_n,
        &c_n,
        Some(&saved),
    )
    .unwrap();
    r.submit().unwrap();
    let mut want = vec![0.0; all * steps * 2 * hidden];
    let (wh, wc) = reference::lstm_sequence(&spec, &gx, &w, &h0, &c0, &mut want);
    let what = format!("lstm B{batch}+{offset} T{steps} H{hidden} rev {reverse} scale {scale}");
    assert_close(&what, &read(&out), &want, REL, ABS);
    assert_close(
        &format!("{what} h_n"),
        &read(&h_n)[offset * hidden..],
        &wh,
        REL,
        ABS,
    );
    assert_close(
        &format!("{what} c_n"),
        &read(&c_n)[offset * hidden..],
        &wc,
        REL,
        ABS * 10.0,
    );
    // the saved cell state of the last processed step is c_n
    let sv = read(&saved);
    let last_t = if reverse { 0 } else { steps - 1 };
    for b in offset..all {
        for u in 0..hidden {
            let c = sv[(b * steps + last_t) * 5 * hidden + 4 * hidden + u];
            assert!((c - wc[(b - offset) * hidden + u]).abs() <= ABS * 10.0 + REL * c.abs());
        }
    }
}

seer_gpu::on_backends!(lstm_matches_reference_on_ragged_tiles);
fn lstm_matches_reference_on_ragged_tiles() {
    // hidden 5 → tiles of 204 series; 300 series spill into a partial second tile
    check_lstm(300, 4, 5, false, 1.0, 1);
    check_lstm(1, 7, 3, false, 1.0, 2);
    check_lstm(5, 6, 37, true, 1.0, 3);
    // hidden above 256: four pairs per thread, one series per tile
    check_lstm(2, 3, 300, false, 1.0, 4);
}

seer_gpu::on_backends!(lstm_chunk_writes_after_its_series_offset);
fn lstm_chunk_writes_after_its_series_offset() {
    check_lstm_chunk(7, 5, 4, 6, false, 1.0, 11);
    check_lstm_chunk(3, 300, 3, 5, true, 1.0, 12);
}

seer_gpu::on_backends!(lstm_with_extreme_preactivations_stays_finite);
fn lstm_with_extreme_preactivations_stays_finite() {
    check_lstm(3, 5, 7, false, 100.0, 5);
    check_lstm(3, 5, 7, true, 100.0, 6);
}

seer_gpu::on_backends!(lstm_rejects_hidden_sizes_beyond_a_workgroup);
fn lstm_rejects_hidden_sizes_beyond_a_workgroup() {
    let mut r = rec();
    let t = zeros(&[4]);
    let spec = RecurrentSpec {
        batch: 1,
        steps: 1,
        hidden: 1025,
        reverse: false,
        out_stride: 1025,
        out_offset: 0,
        series_offset: 0,
    };
    let err = ops::lstm_sequence(&mut r, &spec, &t, &t, &t, &t, &t, &t, &t, None).unwrap_err();
    assert!(err.to_string().contains("hidden size 1025"), "{err}");
}

fn check_rnn(
    batch: usize,
    offset: usize,
    steps: usize,
    hidden: usize,
    reverse: bool,
    scale: f64,
    seed: u64,
) {
    let all = offset + batch;
    let px = rounded(&data(batch * steps * hidden, seed, -scale, scale));
    let w = rounded(&data(hidden * hidden, seed + 1, -0.5, 0.5));
    let h0 = rounded(&data(all * hidden, seed + 2, -1.0, 1.0));
    let spec = RecurrentSpec {
        batch,
        steps,
        hidden,
        reverse,
        out_stride: hidden,
        out_offset: 0,
        series_offset: offset,
    };
    let out = zeros(&[all, steps, hidden]);
    let h_n = zeros(&[all, hidden]);
    let mut r = rec();
    ops::rnn_sequence(
        &mut r,
        &spec,
        &up(&px, &[px.len()]),
        &up(&w, &[w.len()]),
        &up(&h0, &[h0.len()]),
        &out,
        &h_n,
    )
    .unwrap();
    r.submit().unwrap();
    let mut want = vec![0.0; all * steps * hidden];
    let wh = reference::rnn_sequence(&spec, &px, &w, &h0, &mut want);
    let what = format!("rnn B{batch}+{offset} T{steps} H{hidden}");
    assert_close(&what, &read(&out), &want, REL, ABS);
    assert_close(
        &format!("{what} h_n"),
        &read(&h_n)[offset * hidden..],
        &wh,
        REL,
        ABS,
    );
}

seer_gpu::on_backends!(rnn_matches_reference);
fn rnn_matches_reference() {
    check_rnn(70, 0, 9, 33, false, 1.0, 1);
    check_rnn(1, 0, 4, 1, true, 1.0, 2);
    check_rnn(4, 0, 6, 11, false, 100.0, 3);
    check_rnn(5, 9, 3, 7, false, 1.0, 4);
}

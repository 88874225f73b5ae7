#pragma once
// Weight pruning of linear layers y = W x. W is row-major [rows][cols]: a row is an output channel, a
// column an input channel. Three unstructured / N:M methods that zero single weights, and structured
// pruning that removes whole channels of a SwiGLU FFN (the matrices shrink).
//
// Every weight-pruning method compares weights within one output row (Wanda's comparison group), so
// the three differ only in their score and in whether the kept weights are updated (SparseGPT), and
// every row ends with the same number of zeros:
//   magnitude  score |W_ij|                       (no calibration data)
//   wanda      score |W_ij| · ||X_j||₂            (Sun et al. 2023; X_j: input j over calibration tokens)
//   sparsegpt  score W_ij² / U_jj², kept weights updated to absorb the error (Frantar & Alistarh 2023)
// Ties in a score are broken by column: the lower column is pruned first. Non-finite weights, norms or
// a Hessian that is not positive definite after damping throw lathe::Error (InvalidArgument).

#include "compress/Hessian.h"

#include <cstdint>
#include <span>
#include <vector>

namespace lathe {

class ThreadPool;

struct SparsityPattern {
    // Unstructured: the share of each row's weights set to zero, rounded down to whole weights
    // (floor(sparsity · cols), with a 1e-9 allowance so that 0.29 · 100 gives 29). Not used with N:M.
    double sparsity = 0.5;
    // N:M semi-structured: in each group of M consecutive columns of a row (columns [kM, kM + M)), the
    // N highest-scoring weights are kept and the other M - N zeroed (2:4 => n = 2, m = 4). 0:0 means
    // unstructured.
    int n = 0, m = 0;

    bool isNm() const { return m != 0; }

    // Throws lathe::Error (InvalidArgument) for cols <= 0, sparsity outside [0, 1) (checked for N:M
    // too), only one of n and m set, n <= 0, n >= m, or cols not a multiple of m.
    void validate(int64_t cols) const;

    // How many weights of a row of `cols` columns this pattern zeroes: floor(sparsity · cols), or
    // (m - n) · cols / m for N:M. Call validate first.
    int64_t zerosPerRow(int64_t cols) const;
};

// Zeroes the zerosPerRow(cols) weights of smallest |W_ij| in each row (N:M: the m - n smallest of each
// group). w: [rows][cols]. Returns the number of weights set to zero (rows · zerosPerRow(cols)).
int64_t pruneMagnitude(std::span<float> w, int64_t rows, int64_t cols, const SparsityPattern& pattern);

// As pruneMagnitude with score |W_ij| · inputNorms[j]. inputNorms: [cols], the L2 norm of input j over
// the calibration tokens (sqrt of sum over tokens of x_j²); finite and >= 0. The score is formed in
// double, where the product of two floats is exact, so equal norms give exactly magnitude's mask.
int64_t pruneWanda(std::span<float> w, int64_t rows, int64_t cols, std::span<const float> inputNorms,
                   const SparsityPattern& pattern);

// SparseGPT. hessian: [cols][cols], H = 2/n · Xᵀ X of the calibration inputs (inputHessian). Here:
// dead inputs (H_jj == 0) get H_jj = 1 (fixDeadInputs) and score 0, so their weights, which never
// affect the output, are pruned first; H += damp · mean(diag H) · I (dampen); U = inverseCholeskyUpper(H)
// (H⁻¹ = Uᵀ U). Then, in every row independently, the columns are walked in blocks of blockSize
// (rounded up to a multiple of m for N:M, so that no group straddles two blocks):
//   - at a block [i1, i2) start, unstructured: the zerosPerRow(i2) - zerosPerRow(i1) entries of the
//     block with the lowest score w_j² / U_jj² are marked for pruning (so the row ends with exactly
//     zerosPerRow(cols) zeros). N:M: at the first column of each group, its m - n lowest-scoring
//     entries are marked, scored on the weights as updated so far (as the paper does).
//   - column by column j in the block: err_j = w_j / U_jj where marked (w_j then set to 0), 0 where
//     kept; the block's columns k > j get w_k -= err_j · U_jk.
//   - after the block, the columns right of it get the lazy batched update w_k -= Σ_j err_j · U_jk.
// The arithmetic is in double; the result is rounded to float once at the end. Rows are split over
// the hardware threads in tiles of 16. Returns rows · zerosPerRow(cols). Throws lathe::Error
// (InvalidArgument) for a hessian of the wrong size, blockSize <= 0, damp < 0, or when H is not
// positive definite.
int64_t pruneSparseGpt(std::span<float> w, int64_t rows, int64_t cols, SquareMatrix hessian,
                       const SparsityPattern& pattern, double damp = 0.01, int blockSize = 128,
                       ThreadPool* pool = nullptr);

// The part of SparseGPT that depends only on the inputs (dead inputs, damping, U), which every matrix
// reading the same inputs shares (attn_q/k/v; ffn_gate/up): prepare it once, prune each matrix with it.
struct SparseGptHessian {
    std::vector<uint8_t> dead; // [cols] inputs that never fire
    SquareMatrix u;            // upper Cholesky factor of the damped H⁻¹
};
SparseGptHessian prepareSparseGptHessian(SquareMatrix hessian, double damp, ThreadPool* pool = nullptr);
int64_t pruneSparseGpt(std::span<float> w, int64_t rows, int64_t cols, const SparseGptHessian& hessian,
                       const SparsityPattern& pattern,
                       int blockSize = 128); // pool: for the inverse Cholesky factor

// Structured pruning of a SwiGLU FFN y = down · (silu(gate · x) ⊙ (up · x)).
// gate, up: [ff][nEmbd]; down: [nEmbd][ff]; a channel j is row j of gate and up and column j of down.
//
// Importance of channel j = ||X_down_j||₂ · ||down[:, j]||₂: the Wanda score summed over the column,
// i.e. how much the channel contributes to the output on the calibration data. downInputNorms: [ff],
// the L2 norms of down's inputs (the swiglu outputs) over the calibration tokens. Returns [ff].
std::vector<double> ffnChannelImportance(std::span<const float> down, int64_t nEmbd, int64_t ff,
                                         std::span<const float> downInputNorms);

// The keepCount channels of highest importance (ties: the lower channel), in ascending order.
// Throws lathe::Error (InvalidArgument) unless 1 <= keepCount <= importance.size().
std::vector<int64_t> channelsToKeep(std::span<const double> importance, int64_t keepCount);

struct FfnWeights {
    std::vector<float> gate; // [ff][nEmbd]
    std::vector<float> up;   // [ff][nEmbd]
    std::vector<float> down; // [nEmbd][ff]
    int64_t ff = 0;
};

// Copies the kept channels (keep: strictly ascending channel indices < ff): rows of gate and up,
// columns of down, in keep's order. The result has ff = keep.size() and the same layouts.
FfnWeights keepFfnChannels(std::span<const float> gate, std::span<const float> up,
                           std::span<const float> down, int64_t nEmbd, int64_t ff,
                           std::span<const int64_t> keep);

} // namespace lathe

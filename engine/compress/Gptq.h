#pragma once
// GPTQ (Frantar et al., 2022): quantizes a matrix column by column, each time spreading the rounding
// error of the column over the columns not yet quantized, weighted by the inverse Hessian of the
// layer-wise reconstruction error ||W X - Ŵ X||² (H = 2/n Xᵀ X from calibration inputs):
//   err = (w_i - q(w_i)) / U[i][i];   w_j -= err · U[i][j] for j > i      (U: upper Cholesky of H⁻¹)
// in blocks of 128 columns with the lazy batch update for the columns right of the block, dead inputs
// (never active) zeroed, H damped by `damp` · mean(diag H), and optionally the columns taken by
// decreasing H[i][i] ("act order"). Groups stay contiguous in the stored layout ("static groups"):
// each group's grid is fixed from the weights before any update, so act order needs no index table
// and the result is stored in the same block formats as RTN. On a symmetric grid, weights that are
// exactly zero (pruned) stay zero.

#include "compress/Hessian.h"
#include "compress/QuantGrid.h"

#include <cstdint>
#include <span>
#include <vector>

namespace lathe {

class ThreadPool;

struct GptqSettings {
    QuantSpec quant;
    double damp = 0.01;
    bool actOrder = true;
    int blockSize = 128;
};

// What the columns of every matrix that reads the same input share: the order and U.
struct GptqHessian {
    std::vector<int64_t> order; // order[i]: the column quantized i-th
    std::vector<bool> dead;     // [cols] inputs that never fire
    SquareMatrix u;             // upper Cholesky factor of the damped H⁻¹, in `order`
};

GptqHessian prepareGptqHessian(SquareMatrix h, double damp, bool actOrder, ThreadPool* pool = nullptr);

// w: [rows][cols]. pool: optional, rows are independent and split over its threads.
QuantizedMatrix quantizeGptq(std::span<const float> w, int64_t rows, int64_t cols, const GptqHessian& hessian,
                             const GptqSettings& settings, ThreadPool* pool = nullptr);

} // namespace lathe

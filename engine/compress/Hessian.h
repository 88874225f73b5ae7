#pragma once
// The second-order statistics GPTQ and SparseGPT share. For a linear layer y = W x with calibration
// inputs X ([nTokens][cols]), the layer-wise reconstruction error ||W X - Ŵ X||² has Hessian
// H = 2/n · Xᵀ X in every row of W. Both methods walk the columns of W in order and need the upper
// Cholesky factor of H⁻¹ (after damping): its row i holds the error-propagation weights of column i.
// Everything here is in double: the matrices are small (cols² values) and their condition numbers
// are not.

#include <cstdint>
#include <span>
#include <vector>

namespace lathe {

class ThreadPool;

// A dense square matrix, row-major [n][n].
struct SquareMatrix {
    int64_t n = 0;
    std::vector<double> values;

    double& at(int64_t r, int64_t c) { return values[size_t(r * n + c)]; }
    double at(int64_t r, int64_t c) const { return values[size_t(r * n + c)]; }
};

// H = 2/nTokens · Xᵀ X. x: [nTokens][cols].
// pool (optional): the rows of H are split over its threads, here and in inverseCholeskyUpper.
SquareMatrix inputHessian(std::span<const float> x, int64_t nTokens, int64_t cols,
                          ThreadPool* pool = nullptr);

// Inputs that never fire (H[i][i] == 0) are given H[i][i] = 1 so that H stays invertible; their
// weights have no effect on the output and are free (GPTQ zeroes them). Returns how many there were.
int64_t fixDeadInputs(SquareMatrix& h);

// Adds dampFraction · mean(diag H) to the diagonal (GPTQ's "percdamp", 0.01 by default).
void dampen(SquareMatrix& h, double dampFraction);

// The upper-triangular U with H⁻¹ = Uᵀ U (GPTQ's "Hinv"). Throws lathe::Error (InvalidArgument) when
// H is not positive definite.
SquareMatrix inverseCholeskyUpper(const SquareMatrix& h, ThreadPool* pool = nullptr);

// Symmetric permutation: out[i][j] = h[perm[i]][perm[j]].
SquareMatrix permuted(const SquareMatrix& h, std::span<const int64_t> perm);

} // namespace lathe

#include "compress/Hessian.h"

#include "core/Error.h"
#include "core/ThreadPool.h"

#include <algorithm>
#include <cmath>

namespace lathe {

namespace {

void forRange(ThreadPool* pool, int64_t n, const ThreadPool::RangeFn& body) {
    if (pool && n > 1)
        pool->parallelFor(n, body);
    else
        body(0, n, 0);
}

// Rows i of a triangle get i units of work: split [0, n) so that each chunk holds about the same
// work, by walking the rows in the order 0, n-1, 1, n-2, ...
int64_t balancedRow(int64_t k, int64_t n) {
    return k % 2 == 0 ? k / 2 : n - 1 - k / 2;
}

double dot(const double* a, const double* b, int64_t n) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < n; ++k)
        s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

} // namespace

SquareMatrix inputHessian(std::span<const float> x, int64_t nTokens, int64_t cols, ThreadPool* pool) {
    if (int64_t(x.size()) != nTokens * cols || nTokens <= 0)
        fail(ErrorCategory::Internal, "inputHessian: {} values are not {} tokens x {} columns", x.size(),
             nTokens, cols);
    // Columns of X as contiguous rows of Xᵀ (in double): H[i][j] is then one dot product.
    std::vector<double> xt(static_cast<size_t>(cols * nTokens));
    for (int64_t t = 0; t < nTokens; ++t)
        for (int64_t c = 0; c < cols; ++c)
            xt[size_t(c * nTokens + t)] = double(x[size_t(t * cols + c)]);
    SquareMatrix h{cols, std::vector<double>(static_cast<size_t>(cols * cols), 0.0)};
    const double scale = 2.0 / double(nTokens);
    forRange(pool, cols, [&](int64_t begin, int64_t end, int) {
        for (int64_t k = begin; k < end; ++k) {
            const int64_t i = balancedRow(k, cols);
            const double* xi = xt.data() + i * nTokens;
            for (int64_t j = 0; j <= i; ++j)
                h.at(i, j) = scale * dot(xi, xt.data() + j * nTokens, nTokens);
        }
    });
    for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = 0; j < i; ++j)
            h.at(j, i) = h.at(i, j);
    return h;
}

int64_t fixDeadInputs(SquareMatrix& h) {
    int64_t dead = 0;
    for (int64_t i = 0; i < h.n; ++i)
        if (h.at(i, i) == 0.0) {
            h.at(i, i) = 1.0;
            ++dead;
        }
    return dead;
}

void dampen(SquareMatrix& h, double dampFraction) {
    double mean = 0.0;
    for (int64_t i = 0; i < h.n; ++i)
        mean += h.at(i, i);
    mean /= double(std::max<int64_t>(h.n, 1));
    for (int64_t i = 0; i < h.n; ++i)
        h.at(i, i) += dampFraction * mean;
}

namespace {

// In-place lower Cholesky factor L (A = L Lᵀ) of a symmetric positive definite matrix, by columns: the
// rows below each pivot are independent (split over the pool). The upper triangle is zeroed.
void choleskyLower(SquareMatrix& a, ThreadPool* pool) {
    const int64_t n = a.n;
    for (int64_t j = 0; j < n; ++j) {
        const double* rj = a.values.data() + j * n;
        const double d = a.at(j, j) - dot(rj, rj, j);
        if (!(d > 0.0) || !std::isfinite(d))
            fail(ErrorCategory::InvalidArgument,
                 "the calibration Hessian is not positive definite at column {} (pivot {}): use more "
                 "calibration tokens or a larger damping",
                 j, d);
        const double ljj = std::sqrt(d);
        a.at(j, j) = ljj;
        const int64_t below = n - j - 1;
        auto rows = [&](int64_t begin, int64_t end, int) {
            for (int64_t i = j + 1 + begin; i < j + 1 + end; ++i)
                a.at(i, j) = (a.at(i, j) - dot(a.values.data() + i * n, rj, j)) / ljj;
        };
        if (below * j > 65536)
            forRange(pool, below, rows);
        else
            rows(0, below, 0);
    }
    for (int64_t i = 0; i < n; ++i)
        std::fill(a.values.begin() + i * n + i + 1, a.values.begin() + (i + 1) * n, 0.0);
}

} // namespace

SquareMatrix inverseCholeskyUpper(const SquareMatrix& h, ThreadPool* pool) {
    const int64_t n = h.n;
    // H = L Lᵀ, so H⁻¹ = L⁻ᵀ L⁻¹. With X = L⁻ᵀ (upper triangular), H⁻¹ = X Xᵀ. Factor H⁻¹ = Uᵀ U with U
    // upper triangular: the lower Cholesky factor of H⁻¹ is Uᵀ.
    SquareMatrix l = h;
    choleskyLower(l, pool);
    // Row j of X is column j of L⁻¹, by forward substitution on L x = e_j:
    // X[j][i] = (δij - sum_{j<=k<i} L[i][k] X[j][k]) / L[i][i] for i >= j. Rows are independent.
    SquareMatrix x{n, std::vector<double>(static_cast<size_t>(n * n), 0.0)};
    forRange(pool, n, [&](int64_t begin, int64_t end, int) {
        for (int64_t k = begin; k < end; ++k) {
            const int64_t j = balancedRow(k, n);
            double* xj = x.values.data() + j * n;
            xj[j] = 1.0 / l.at(j, j);
            for (int64_t i = j + 1; i < n; ++i)
                xj[i] = -dot(l.values.data() + i * n + j, xj + j, i - j) / l.at(i, i);
        }
    });
    // H⁻¹[i][j] = sum_k X[i][k] X[j][k], over k >= max(i, j).
    SquareMatrix inv{n, std::vector<double>(static_cast<size_t>(n * n), 0.0)};
    forRange(pool, n, [&](int64_t begin, int64_t end, int) {
        for (int64_t k = begin; k < end; ++k) {
            const int64_t i = balancedRow(k, n);
            for (int64_t j = i; j < n; ++j)
                inv.at(i, j) = dot(x.values.data() + i * n + j, x.values.data() + j * n + j, n - j);
        }
    });
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j)
            inv.at(j, i) = inv.at(i, j);
    choleskyLower(inv, pool);
    SquareMatrix u{n, std::vector<double>(static_cast<size_t>(n * n), 0.0)};
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j <= i; ++j)
            u.at(j, i) = inv.at(i, j);
    return u;
}

SquareMatrix permuted(const SquareMatrix& h, std::span<const int64_t> perm) {
    SquareMatrix out{h.n, std::vector<double>(h.values.size())};
    for (int64_t i = 0; i < h.n; ++i)
        for (int64_t j = 0; j < h.n; ++j)
            out.at(i, j) = h.at(perm[size_t(i)], perm[size_t(j)]);
    return out;
}

} // namespace lathe

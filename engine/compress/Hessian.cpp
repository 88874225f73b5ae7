#include "compress/Hessian.h"

#include "core/Error.h"

#include <algorithm>
#include <cmath>

namespace lathe {

SquareMatrix inputHessian(std::span<const float> x, int64_t nTokens, int64_t cols) {
    if (int64_t(x.size()) != nTokens * cols || nTokens <= 0)
        fail(ErrorCategory::Internal, "inputHessian: {} values are not {} tokens x {} columns", x.size(),
             nTokens, cols);
    SquareMatrix h{cols, std::vector<double>(size_t(cols * cols), 0.0)};
    std::vector<double> row(static_cast<size_t>(cols));
    for (int64_t t = 0; t < nTokens; ++t) {
        for (int64_t c = 0; c < cols; ++c)
            row[size_t(c)] = double(x[size_t(t * cols + c)]);
        for (int64_t i = 0; i < cols; ++i) {
            const double xi = row[size_t(i)];
            if (xi == 0.0) continue;
            double* hr = h.values.data() + i * cols;
            for (int64_t j = i; j < cols; ++j)
                hr[j] += xi * row[size_t(j)];
        }
    }
    const double scale = 2.0 / double(nTokens);
    for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = i; j < cols; ++j) {
            const double v = h.at(i, j) * scale;
            h.at(i, j) = v;
            h.at(j, i) = v;
        }
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

// In-place lower Cholesky factor L (A = L Lᵀ) of a symmetric positive definite matrix; the upper
// triangle is zeroed.
void choleskyLower(SquareMatrix& a) {
    const int64_t n = a.n;
    for (int64_t j = 0; j < n; ++j) {
        double d = a.at(j, j);
        const double* rj = a.values.data() + j * n;
        for (int64_t k = 0; k < j; ++k)
            d -= rj[k] * rj[k];
        if (!(d > 0.0) || !std::isfinite(d))
            fail(ErrorCategory::InvalidArgument,
                 "the calibration Hessian is not positive definite at column {} (pivot {}): use more "
                 "calibration tokens or a larger damping",
                 j, d);
        const double ljj = std::sqrt(d);
        a.at(j, j) = ljj;
        for (int64_t i = j + 1; i < n; ++i) {
            const double* ri = a.values.data() + i * n;
            double s = a.at(i, j);
            for (int64_t k = 0; k < j; ++k)
                s -= ri[k] * rj[k];
            a.at(i, j) = s / ljj;
        }
        for (int64_t c = j + 1; c < n; ++c)
            a.at(j, c) = 0.0;
    }
}

} // namespace

SquareMatrix inverseCholeskyUpper(const SquareMatrix& h) {
    const int64_t n = h.n;
    // H = L Lᵀ  =>  H⁻¹ = L⁻ᵀ L⁻¹. Invert L (lower), form H⁻¹, then factor H⁻¹ = Uᵀ U with U upper:
    // the lower Cholesky factor of H⁻¹ is Uᵀ.
    SquareMatrix l = h;
    choleskyLower(l);
    // Li = L⁻¹ by forward substitution, a row at a time: Li[i] = (e_i - sum_k<i L[i][k] Li[k]) / L[i][i].
    SquareMatrix li{n, std::vector<double>(size_t(n * n), 0.0)};
    for (int64_t i = 0; i < n; ++i) {
        double* out = li.values.data() + i * n;
        out[i] = 1.0;
        for (int64_t k = 0; k < i; ++k) {
            const double f = l.at(i, k);
            if (f == 0.0) continue;
            const double* lk = li.values.data() + k * n;
            for (int64_t j = 0; j <= k; ++j)
                out[j] -= f * lk[j];
        }
        const double inv = 1.0 / l.at(i, i);
        for (int64_t j = 0; j <= i; ++j)
            out[j] *= inv;
    }
    SquareMatrix inv{n, std::vector<double>(size_t(n * n), 0.0)};
    // inv = Liᵀ Li: inv[i][j] = sum_k Li[k][i] Li[k][j], k >= max(i, j).
    for (int64_t k = 0; k < n; ++k) {
        const double* lk = li.values.data() + k * n;
        for (int64_t i = 0; i <= k; ++i) {
            const double a = lk[i];
            if (a == 0.0) continue;
            double* out = inv.values.data() + i * n;
            for (int64_t j = 0; j <= k; ++j)
                out[j] += a * lk[j];
        }
    }
    choleskyLower(inv);
    SquareMatrix u{n, std::vector<double>(size_t(n * n), 0.0)};
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

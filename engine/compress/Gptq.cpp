#include "compress/Gptq.h"

#include "core/Error.h"
#include "core/ThreadPool.h"

#include <algorithm>
#include <numeric>

namespace lathe {

GptqHessian prepareGptqHessian(SquareMatrix h, double damp, bool actOrder, ThreadPool* pool) {
    GptqHessian out;
    out.dead.resize(size_t(h.n));
    for (int64_t i = 0; i < h.n; ++i)
        out.dead[size_t(i)] = h.at(i, i) == 0.0;
    fixDeadInputs(h);
    out.order.resize(size_t(h.n));
    std::iota(out.order.begin(), out.order.end(), int64_t(0));
    if (actOrder)
        std::stable_sort(out.order.begin(), out.order.end(),
                         [&](int64_t a, int64_t b) { return h.at(a, a) > h.at(b, b); });
    SquareMatrix p = actOrder ? permuted(h, out.order) : std::move(h);
    dampen(p, damp);
    out.u = inverseCholeskyUpper(p, pool);
    return out;
}

QuantizedMatrix quantizeGptq(std::span<const float> w, int64_t rows, int64_t cols, const GptqHessian& hessian,
                             const GptqSettings& settings, ThreadPool* pool) {
    const QuantSpec& spec = settings.quant;
    spec.validate(cols);
    if (hessian.u.n != cols || int64_t(w.size()) != rows * cols)
        fail(ErrorCategory::Internal, "quantizeGptq: a {}x{} matrix with a Hessian of {} columns", rows, cols,
             hessian.u.n);
    // The grids come from the weights as they are (dead inputs zeroed), before any update.
    std::vector<float> start(w.begin(), w.end());
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            if (hessian.dead[size_t(c)]) start[size_t(r * cols + c)] = 0.0f;
    QuantizedMatrix q = quantizeNearest(start, rows, cols, spec);

    const int64_t block = std::max(1, settings.blockSize);
    const bool keepZeros = spec.symmetric;
    const int zeroCode = 1 << (spec.bits - 1);
    const SquareMatrix& u = hessian.u;
    auto runRows = [&](int64_t begin, int64_t end, int) {
        std::vector<double> wr(static_cast<size_t>(cols)); // the row in quantization order
        std::vector<double> err(static_cast<size_t>(block));
        for (int64_t r = begin; r < end; ++r) {
            for (int64_t i = 0; i < cols; ++i)
                wr[size_t(i)] = start[size_t(r * cols + hessian.order[size_t(i)])];
            uint8_t* codes = q.codes.data() + r * cols;
            for (int64_t i1 = 0; i1 < cols; i1 += block) {
                const int64_t i2 = std::min(cols, i1 + block);
                for (int64_t i = i1; i < i2; ++i) {
                    const int64_t col = hessian.order[size_t(i)];
                    const GroupParams& p = q.paramsOf(r, col);
                    // A pruned weight stays pruned on a symmetric grid (SparseGPT's joint treatment): it
                    // is "quantized" to zero and its error spreads like any other.
                    const int code = keepZeros && start[size_t(r * cols + col)] == 0.0f
                                         ? zeroCode
                                         : quantizeToCode(float(wr[size_t(i)]), p, spec.bits);
                    codes[col] = uint8_t(code);
                    const double e = (wr[size_t(i)] - double(codeValue(code, p))) / u.at(i, i);
                    err[size_t(i - i1)] = e;
                    const double* ui = u.values.data() + i * cols;
                    for (int64_t j = i + 1; j < i2; ++j)
                        wr[size_t(j)] -= e * ui[j];
                }
                // The lazy batch update of the columns right of the block.
                for (int64_t k = i1; k < i2; ++k) {
                    const double e = err[size_t(k - i1)];
                    if (e == 0.0) continue;
                    const double* uk = u.values.data() + k * cols;
                    for (int64_t j = i2; j < cols; ++j)
                        wr[size_t(j)] -= e * uk[j];
                }
            }
        }
    };
    if (pool)
        pool->parallelFor(rows, runRows);
    else
        runRows(0, rows, 0);
    return q;
}

} // namespace lathe

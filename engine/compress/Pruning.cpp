#include "compress/Pruning.h"

#include "core/Error.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <thread>

namespace lathe {

void SparsityPattern::validate(int64_t cols) const {
    if (cols <= 0) fail(ErrorCategory::InvalidArgument, "pruning: a matrix needs columns, got {}", cols);
    if (!(sparsity >= 0.0 && sparsity < 1.0))
        fail(ErrorCategory::InvalidArgument, "pruning: sparsity {} is outside [0, 1)", sparsity);
    if (n == 0 && m == 0) return;
    if (n <= 0 || m <= 0 || n >= m)
        fail(ErrorCategory::InvalidArgument, "pruning: pattern {}:{} is not N:M with 0 < N < M", n, m);
    if (cols % m != 0)
        fail(ErrorCategory::InvalidArgument, "pruning: {} columns are not whole groups of {} for {}:{}", cols,
             m, n, m);
}

int64_t SparsityPattern::zerosPerRow(int64_t cols) const {
    if (isNm()) return cols / m * (m - n);
    // The allowance keeps a share that is meant to be exact (0.29 of 100) from rounding down a whole
    // weight because 0.29 has no exact binary form.
    return int64_t(std::floor(sparsity * double(cols) + 1e-9));
}

namespace {

void checkMatrix(std::span<const float> w, int64_t rows, int64_t cols, const SparsityPattern& pattern) {
    pattern.validate(cols);
    if (rows < 0 || int64_t(w.size()) != rows * cols)
        fail(ErrorCategory::InvalidArgument, "pruning: {} weights are not {} rows x {} columns", w.size(),
             rows, cols);
    for (size_t i = 0; i < w.size(); ++i)
        if (!std::isfinite(w[i]))
            fail(ErrorCategory::InvalidArgument, "pruning: weight [{}][{}] is not finite ({})",
                 int64_t(i) / cols, int64_t(i) % cols, w[i]);
}

// Marks (pruned[i] = 1) the `count` entries of lowest score; ties go to the lower index, so the choice
// is one well-defined set. order is scratch.
void markLowest(std::span<const double> scores, int64_t count, std::span<uint8_t> pruned,
                std::vector<int32_t>& order) {
    const int64_t size = int64_t(scores.size());
    if (count <= 0) return;
    if (count >= size) {
        std::fill(pruned.begin(), pruned.end(), uint8_t(1));
        return;
    }
    order.resize(size_t(size));
    std::iota(order.begin(), order.end(), 0);
    std::nth_element(order.begin(), order.begin() + count, order.end(), [&](int32_t a, int32_t b) {
        const double sa = scores[size_t(a)], sb = scores[size_t(b)];
        return sa < sb || (sa == sb && a < b);
    });
    for (int64_t i = 0; i < count; ++i)
        pruned[size_t(order[size_t(i)])] = 1;
}

// Magnitude and Wanda: one score per weight, no update. score(j, |w|) gives the score of column j.
template <typename Score>
int64_t pruneByScore(std::span<float> w, int64_t rows, int64_t cols, const SparsityPattern& pattern,
                     Score score) {
    std::vector<double> scores(size_t(cols), 0.0);
    std::vector<uint8_t> pruned(size_t(cols), 0);
    std::vector<int32_t> order;
    const int64_t zeros = pattern.zerosPerRow(cols);
    for (int64_t r = 0; r < rows; ++r) {
        float* row = w.data() + r * cols;
        for (int64_t j = 0; j < cols; ++j)
            scores[size_t(j)] = score(j, std::fabs(double(row[j])));
        std::fill(pruned.begin(), pruned.end(), uint8_t(0));
        if (pattern.isNm()) {
            const int64_t m = pattern.m;
            for (int64_t g = 0; g < cols; g += m)
                markLowest(std::span(scores).subspan(size_t(g), size_t(m)), m - pattern.n,
                           std::span(pruned).subspan(size_t(g), size_t(m)), order);
        } else {
            markLowest(scores, zeros, pruned, order);
        }
        for (int64_t j = 0; j < cols; ++j)
            if (pruned[size_t(j)]) row[j] = 0.0f;
    }
    return rows * zeros;
}

// SparseGPT's walk over the columns for a tile of rows, in double.
class SparseGptTile {
public:
    SparseGptTile(const SquareMatrix& u, std::span<const uint8_t> dead, const SparsityPattern& pattern,
                  int64_t blockSize, int64_t maxRows)
        : u_(u), dead_(dead), pattern_(pattern), cols_(u.n), blockSize_(blockSize),
          rows_(size_t(maxRows * cols_)), err_(size_t(maxRows * blockSize)),
          pruned_(size_t(maxRows * blockSize)), scores_(size_t(blockSize)) {}

    void run(float* w, int64_t rowCount) {
        const int64_t cols = cols_;
        for (int64_t i = 0; i < rowCount * cols; ++i)
            rows_[size_t(i)] = double(w[i]);
        for (int64_t i1 = 0; i1 < cols; i1 += blockSize_) {
            const int64_t i2 = std::min(i1 + blockSize_, cols);
            const int64_t width = i2 - i1;
            std::fill(pruned_.begin(), pruned_.end(), uint8_t(0));
            if (!pattern_.isNm()) {
                const int64_t count = pattern_.zerosPerRow(i2) - pattern_.zerosPerRow(i1);
                for (int64_t r = 0; r < rowCount; ++r)
                    markGroup(r, i1, i1, width, count);
            }
            for (int64_t j = i1; j < i2; ++j) {
                if (pattern_.isNm() && j % pattern_.m == 0)
                    for (int64_t r = 0; r < rowCount; ++r)
                        markGroup(r, i1, j, pattern_.m, pattern_.m - pattern_.n);
                const double* uj = u_.values.data() + j * cols;
                const double inverseDiagonal = 1.0 / uj[j];
                for (int64_t r = 0; r < rowCount; ++r) {
                    double* row = rows_.data() + r * cols;
                    double& e = err_[size_t(r * blockSize_ + (j - i1))];
                    if (!pruned_[size_t(r * blockSize_ + (j - i1))]) {
                        e = 0.0;
                        continue;
                    }
                    e = row[j] * inverseDiagonal;
                    row[j] = 0.0;
                    for (int64_t k = j + 1; k < i2; ++k)
                        row[k] -= e * uj[k];
                }
            }
            // Lazy batched update of the columns right of the block: one pass over each of the
            // block's rows of U, shared by the tile's rows.
            if (i2 == cols) continue;
            for (int64_t j = i1; j < i2; ++j) {
                const double* uj = u_.values.data() + j * cols;
                for (int64_t r = 0; r < rowCount; ++r) {
                    const double e = err_[size_t(r * blockSize_ + (j - i1))];
                    if (e == 0.0) continue;
                    double* row = rows_.data() + r * cols;
                    for (int64_t k = i2; k < cols; ++k)
                        row[k] -= e * uj[k];
                }
            }
        }
        for (int64_t i = 0; i < rowCount * cols; ++i)
            w[i] = float(rows_[size_t(i)]);
    }

private:
    // Marks the `count` lowest-scoring entries of row r in columns [start, start + width); the block
    // starts at column i1.
    void markGroup(int64_t r, int64_t i1, int64_t start, int64_t width, int64_t count) {
        const double* row = rows_.data() + r * cols_;
        for (int64_t k = 0; k < width; ++k) {
            const int64_t j = start + k;
            const double d = u_.at(j, j);
            scores_[size_t(k)] = dead_[size_t(j)] ? 0.0 : row[j] * row[j] / (d * d);
        }
        markLowest(std::span(scores_).first(size_t(width)), count,
                   std::span(pruned_).subspan(size_t(r * blockSize_ + (start - i1)), size_t(width)), order_);
    }

    const SquareMatrix& u_;
    std::span<const uint8_t> dead_;
    const SparsityPattern& pattern_;
    int64_t cols_, blockSize_;
    std::vector<double> rows_;    // [maxRows][cols]
    std::vector<double> err_;     // [maxRows][blockSize]
    std::vector<uint8_t> pruned_; // [maxRows][blockSize]
    std::vector<double> scores_;  // [blockSize]
    std::vector<int32_t> order_;
};

} // namespace

int64_t pruneMagnitude(std::span<float> w, int64_t rows, int64_t cols, const SparsityPattern& pattern) {
    checkMatrix(w, rows, cols, pattern);
    return pruneByScore(w, rows, cols, pattern, [](int64_t, double magnitude) { return magnitude; });
}

int64_t pruneWanda(std::span<float> w, int64_t rows, int64_t cols, std::span<const float> inputNorms,
                   const SparsityPattern& pattern) {
    checkMatrix(w, rows, cols, pattern);
    if (int64_t(inputNorms.size()) != cols)
        fail(ErrorCategory::InvalidArgument, "wanda: {} input norms for {} columns", inputNorms.size(), cols);
    for (size_t j = 0; j < inputNorms.size(); ++j)
        if (!(std::isfinite(inputNorms[j]) && inputNorms[j] >= 0.0f))
            fail(ErrorCategory::InvalidArgument, "wanda: input norm {} is {}", j, inputNorms[j]);
    return pruneByScore(w, rows, cols, pattern, [&](int64_t j, double magnitude) {
        return magnitude * double(inputNorms[size_t(j)]);
    });
}

SparseGptHessian prepareSparseGptHessian(SquareMatrix hessian, double damp, ThreadPool* pool) {
    if (int64_t(hessian.values.size()) != hessian.n * hessian.n)
        fail(ErrorCategory::InvalidArgument, "sparsegpt: a Hessian of {} values for {} columns",
             hessian.values.size(), hessian.n);
    if (!(damp >= 0.0 && std::isfinite(damp)))
        fail(ErrorCategory::InvalidArgument, "sparsegpt: damping {} is not a share >= 0", damp);
    SparseGptHessian out;
    out.dead.resize(size_t(hessian.n), 0);
    for (int64_t j = 0; j < hessian.n; ++j)
        out.dead[size_t(j)] = hessian.at(j, j) == 0.0;
    fixDeadInputs(hessian);
    dampen(hessian, damp);
    out.u = inverseCholeskyUpper(hessian, pool);
    return out;
}

int64_t pruneSparseGpt(std::span<float> w, int64_t rows, int64_t cols, SquareMatrix hessian,
                       const SparsityPattern& pattern, double damp, int blockSize, ThreadPool* pool) {
    checkMatrix(w, rows, cols, pattern);
    if (hessian.n != cols || int64_t(hessian.values.size()) != cols * cols)
        fail(ErrorCategory::InvalidArgument, "sparsegpt: a {}x{} Hessian for {} columns", hessian.n,
             hessian.n, cols);
    if (blockSize <= 0) fail(ErrorCategory::InvalidArgument, "sparsegpt: block size {}", blockSize);
    return pruneSparseGpt(w, rows, cols, prepareSparseGptHessian(std::move(hessian), damp, pool), pattern,
                          blockSize);
}

int64_t pruneSparseGpt(std::span<float> w, int64_t rows, int64_t cols, const SparseGptHessian& hessian,
                       const SparsityPattern& pattern, int blockSize) {
    checkMatrix(w, rows, cols, pattern);
    if (hessian.u.n != cols)
        fail(ErrorCategory::InvalidArgument, "sparsegpt: a factor of {} columns for {} columns", hessian.u.n,
             cols);
    if (blockSize <= 0) fail(ErrorCategory::InvalidArgument, "sparsegpt: block size {}", blockSize);
    const SquareMatrix& u = hessian.u;
    const std::vector<uint8_t>& dead = hessian.dead;

    int64_t block = blockSize;
    if (pattern.isNm()) block = (block + pattern.m - 1) / pattern.m * pattern.m;
    block = std::min(block, cols);

    // Tiles of rows share each pass over a row of U; tiles are handed out to threads one at a time.
    constexpr int64_t kTileRows = 16;
    const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
    const int64_t threads =
        std::clamp<int64_t>(int64_t(std::thread::hardware_concurrency()), 1, std::max<int64_t>(tiles, 1));
    std::atomic<int64_t> next{0};
    auto worker = [&] {
        SparseGptTile tile(u, dead, pattern, block, kTileRows);
        for (int64_t t = next.fetch_add(1); t < tiles; t = next.fetch_add(1)) {
            const int64_t r0 = t * kTileRows;
            tile.run(w.data() + r0 * cols, std::min(kTileRows, rows - r0));
        }
    };
    std::vector<std::thread> workers;
    for (int64_t i = 1; i < threads; ++i)
        workers.emplace_back(worker);
    worker();
    for (std::thread& t : workers)
        t.join();
    return rows * pattern.zerosPerRow(cols);
}

std::vector<double> ffnChannelImportance(std::span<const float> down, int64_t nEmbd, int64_t ff,
                                         std::span<const float> downInputNorms) {
    if (nEmbd <= 0 || ff <= 0 || int64_t(down.size()) != nEmbd * ff)
        fail(ErrorCategory::InvalidArgument, "ffn channels: {} down weights are not {} x {}", down.size(),
             nEmbd, ff);
    if (int64_t(downInputNorms.size()) != ff)
        fail(ErrorCategory::InvalidArgument, "ffn channels: {} input norms for {} channels",
             downInputNorms.size(), ff);
    std::vector<double> sumSquares(size_t(ff), 0.0);
    for (int64_t i = 0; i < nEmbd; ++i) {
        const float* row = down.data() + i * ff;
        for (int64_t j = 0; j < ff; ++j)
            sumSquares[size_t(j)] += double(row[j]) * double(row[j]);
    }
    std::vector<double> importance(size_t(ff), 0.0);
    for (int64_t j = 0; j < ff; ++j)
        importance[size_t(j)] = double(downInputNorms[size_t(j)]) * std::sqrt(sumSquares[size_t(j)]);
    return importance;
}

std::vector<int64_t> channelsToKeep(std::span<const double> importance, int64_t keepCount) {
    const int64_t ff = int64_t(importance.size());
    if (keepCount < 1 || keepCount > ff)
        fail(ErrorCategory::InvalidArgument, "ffn channels: cannot keep {} of {} channels", keepCount, ff);
    for (int64_t j = 0; j < ff; ++j)
        if (std::isnan(importance[size_t(j)]))
            fail(ErrorCategory::InvalidArgument, "ffn channels: channel {} has no importance (NaN)", j);
    std::vector<int64_t> order(size_t(ff), 0);
    std::iota(order.begin(), order.end(), int64_t(0));
    std::nth_element(order.begin(), order.begin() + (keepCount - 1), order.end(), [&](int64_t a, int64_t b) {
        const double ia = importance[size_t(a)], ib = importance[size_t(b)];
        return ia > ib || (ia == ib && a < b);
    });
    order.resize(size_t(keepCount));
    std::sort(order.begin(), order.end());
    return order;
}

FfnWeights keepFfnChannels(std::span<const float> gate, std::span<const float> up,
                           std::span<const float> down, int64_t nEmbd, int64_t ff,
                           std::span<const int64_t> keep) {
    if (nEmbd <= 0 || ff <= 0 || int64_t(gate.size()) != ff * nEmbd || int64_t(up.size()) != ff * nEmbd ||
        int64_t(down.size()) != nEmbd * ff)
        fail(ErrorCategory::InvalidArgument,
             "ffn channels: gate {}, up {}, down {} values do not fit nEmbd {} x ff {}", gate.size(),
             up.size(), down.size(), nEmbd, ff);
    for (size_t k = 0; k < keep.size(); ++k)
        if (keep[k] < 0 || keep[k] >= ff || (k > 0 && keep[k] <= keep[k - 1]))
            fail(ErrorCategory::InvalidArgument,
                 "ffn channels: kept channel {} (position {}) is not ascending within [0, {})", keep[k], k,
                 ff);
    FfnWeights out;
    out.ff = int64_t(keep.size());
    out.gate.resize(size_t(out.ff * nEmbd));
    out.up.resize(size_t(out.ff * nEmbd));
    out.down.resize(size_t(nEmbd * out.ff));
    for (int64_t k = 0; k < out.ff; ++k) {
        const int64_t j = keep[size_t(k)];
        std::copy_n(gate.data() + j * nEmbd, nEmbd, out.gate.data() + k * nEmbd);
        std::copy_n(up.data() + j * nEmbd, nEmbd, out.up.data() + k * nEmbd);
    }
    for (int64_t i = 0; i < nEmbd; ++i)
        for (int64_t k = 0; k < out.ff; ++k)
            out.down[size_t(i * out.ff + k)] = down[size_t(i * ff + keep[size_t(k)])];
    return out;
}

} // namespace lathe

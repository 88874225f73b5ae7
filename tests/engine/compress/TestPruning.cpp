// Pruning against truths written here: the zero count of every row and every N:M group, magnitude's
// mask against a full sort, Wanda against magnitude (equal norms) and against its purpose (outlier
// inputs), SparseGPT against a naive sequential Optimal Brain Surgeon that inverts each remaining
// sub-Hessian explicitly (no Cholesky), SparseGPT's reconstruction error against magnitude's and
// Wanda's on correlated inputs, and FFN channel pruning against the full SwiGLU FFN with the removed
// channels zeroed.

#include "TestSupport.h"
#include "compress/Hessian.h"
#include "compress/Pruning.h"
#include "core/Error.h"

#include <QTest>
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

using namespace lathe;

namespace {

enum class Method { Magnitude, Wanda, SparseGpt };

// x = z · a: [tokens][cols] inputs whose columns are mixtures of `latent` independent ones (z:
// [tokens][latent], a: [latent][cols], both normal), so that Xᵀ X is far from diagonal, and singular
// (before damping) when latent < cols.
std::vector<float> correlatedInputs(int64_t tokens, int64_t cols, uint32_t seed, int64_t latent = 0) {
    if (latent == 0) latent = cols;
    const std::vector<float> z = test::normalValues(size_t(tokens * latent), seed);
    const std::vector<float> a = test::normalValues(size_t(latent * cols), seed + 1);
    std::vector<float> x(size_t(tokens * cols), 0.0f);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t c = 0; c < cols; ++c) {
            double s = 0.0;
            for (int64_t k = 0; k < latent; ++k)
                s += double(z[size_t(t * latent + k)]) * a[size_t(k * cols + c)];
            x[size_t(t * cols + c)] = float(s / std::sqrt(double(latent)));
        }
    return x;
}

// The L2 norm of each input column over the tokens.
std::vector<float> columnNorms(const std::vector<float>& x, int64_t tokens, int64_t cols) {
    std::vector<float> norms(size_t(cols), 0.0f);
    for (int64_t c = 0; c < cols; ++c) {
        double s = 0.0;
        for (int64_t t = 0; t < tokens; ++t)
            s += double(x[size_t(t * cols + c)]) * x[size_t(t * cols + c)];
        norms[size_t(c)] = float(std::sqrt(s));
    }
    return norms;
}

// ||W X - Ŵ X||²_F summed over the tokens.
double outputError(const std::vector<float>& w, const std::vector<float>& pruned, int64_t rows, int64_t cols,
                   const std::vector<float>& x, int64_t tokens) {
    double total = 0.0;
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t t = 0; t < tokens; ++t) {
            double s = 0.0;
            for (int64_t c = 0; c < cols; ++c)
                s += (double(w[size_t(r * cols + c)]) - pruned[size_t(r * cols + c)]) *
                     x[size_t(t * cols + c)];
            total += s * s;
        }
    return total;
}

// The Hessian written out here: 2/n Xᵀ X.
SquareMatrix hessianOf(const std::vector<float>& x, int64_t tokens, int64_t cols) {
    SquareMatrix h{cols, std::vector<double>(size_t(cols * cols), 0.0)};
    for (int64_t i = 0; i < cols; ++i)
        for (int64_t j = 0; j < cols; ++j) {
            double s = 0.0;
            for (int64_t t = 0; t < tokens; ++t)
                s += double(x[size_t(t * cols + i)]) * x[size_t(t * cols + j)];
            h.at(i, j) = 2.0 * s / double(tokens);
        }
    return h;
}

int64_t prune(Method method, std::vector<float>& w, int64_t rows, int64_t cols, const SparsityPattern& p,
              const std::vector<float>& x, int64_t tokens, int blockSize = 128) {
    switch (method) {
    case Method::Magnitude:
        return pruneMagnitude(w, rows, cols, p);
    case Method::Wanda:
        return pruneWanda(w, rows, cols, columnNorms(x, tokens, cols), p);
    case Method::SparseGpt:
        return pruneSparseGpt(w, rows, cols, inputHessian(x, tokens, cols), p, 0.01, blockSize);
    }
    return -1;
}

// Gauss-Jordan inverse with partial pivoting of a [n][n] matrix.
std::vector<double> inverse(std::vector<double> a, int64_t n) {
    std::vector<double> inv(size_t(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i)
        inv[size_t(i * n + i)] = 1.0;
    for (int64_t c = 0; c < n; ++c) {
        int64_t pivot = c;
        for (int64_t r = c + 1; r < n; ++r)
            if (std::fabs(a[size_t(r * n + c)]) > std::fabs(a[size_t(pivot * n + c)])) pivot = r;
        for (int64_t k = 0; k < n; ++k) {
            std::swap(a[size_t(c * n + k)], a[size_t(pivot * n + k)]);
            std::swap(inv[size_t(c * n + k)], inv[size_t(pivot * n + k)]);
        }
        const double d = a[size_t(c * n + c)];
        for (int64_t k = 0; k < n; ++k) {
            a[size_t(c * n + k)] /= d;
            inv[size_t(c * n + k)] /= d;
        }
        for (int64_t r = 0; r < n; ++r) {
            if (r == c) continue;
            const double f = a[size_t(r * n + c)];
            for (int64_t k = 0; k < n; ++k) {
                a[size_t(r * n + k)] -= f * a[size_t(c * n + k)];
                inv[size_t(r * n + k)] -= f * inv[size_t(c * n + k)];
            }
        }
    }
    return inv;
}

// SparseGPT as sequential Optimal Brain Surgeon: the weights left of column j are fixed, so the error
// is a quadratic in columns [j, cols) with Hessian H_F = H[j:, j:]. Pruning w_j moves the remaining
// ones by -w_j / [H_F⁻¹]_00 · H_F⁻¹[0, :]; the mask score of column k is w_k² / [H[k:, k:]⁻¹]_00.
// Masks are chosen where SparseGPT chooses them (block starts, group starts), on the weights as
// updated by then.
std::vector<float> sequentialObs(const std::vector<float>& w, int64_t rows, int64_t cols, SquareMatrix h,
                                 const SparsityPattern& p, double damp, int64_t blockSize) {
    double mean = 0.0;
    for (int64_t i = 0; i < cols; ++i)
        mean += h.at(i, i) / double(cols);
    for (int64_t i = 0; i < cols; ++i)
        h.at(i, i) += damp * mean;
    std::vector<std::vector<double>> firstRow(static_cast<size_t>(cols)); // H[j:, j:]⁻¹[0, :]
    for (int64_t j = 0; j < cols; ++j) {
        const int64_t n = cols - j;
        std::vector<double> sub(size_t(n * n), 0.0);
        for (int64_t a = 0; a < n; ++a)
            for (int64_t b = 0; b < n; ++b)
                sub[size_t(a * n + b)] = h.at(j + a, j + b);
        const std::vector<double> inv = inverse(sub, n);
        firstRow[size_t(j)].assign(inv.begin(), inv.begin() + n);
    }
    auto zerosUpTo = [&](int64_t c) { return int64_t(std::floor(p.sparsity * double(c) + 1e-9)); };
    std::vector<float> out(w.size());
    for (int64_t r = 0; r < rows; ++r) {
        std::vector<double> row(w.begin() + r * cols, w.begin() + (r + 1) * cols);
        std::vector<bool> pruned(size_t(cols), false);
        // Marks the `count` lowest-scoring columns of [start, end).
        auto mark = [&](int64_t start, int64_t end, int64_t count) {
            std::vector<int64_t> idx(size_t(end - start), 0);
            std::iota(idx.begin(), idx.end(), start);
            auto score = [&](int64_t k) { return row[size_t(k)] * row[size_t(k)] / firstRow[size_t(k)][0]; };
            std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return score(a) < score(b); });
            for (int64_t i = 0; i < count; ++i)
                pruned[size_t(idx[size_t(i)])] = true;
        };
        for (int64_t j = 0; j < cols; ++j) {
            if (p.m == 0 && j % blockSize == 0) {
                const int64_t end = std::min(j + blockSize, cols);
                mark(j, end, zerosUpTo(end) - zerosUpTo(j));
            }
            if (p.m != 0 && j % p.m == 0) mark(j, j + p.m, p.m - p.n);
            if (!pruned[size_t(j)]) continue;
            const std::vector<double>& f = firstRow[size_t(j)];
            const double e = row[size_t(j)] / f[0];
            for (int64_t k = j; k < cols; ++k)
                row[size_t(k)] -= e * f[size_t(k - j)];
            row[size_t(j)] = 0.0;
        }
        for (int64_t c = 0; c < cols; ++c)
            out[size_t(r * cols + c)] = float(row[size_t(c)]);
    }
    return out;
}

double silu(double v) {
    return v / (1.0 + std::exp(-v));
}

// The swiglu outputs h = silu(gate x) ⊙ (up x): [tokens][ff].
std::vector<double> swiglu(const std::vector<float>& gate, const std::vector<float>& up,
                           const std::vector<float>& x, int64_t tokens, int64_t nEmbd, int64_t ff) {
    std::vector<double> h(size_t(tokens * ff), 0.0);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t j = 0; j < ff; ++j) {
            double g = 0.0, u = 0.0;
            for (int64_t i = 0; i < nEmbd; ++i) {
                g += double(gate[size_t(j * nEmbd + i)]) * x[size_t(t * nEmbd + i)];
                u += double(up[size_t(j * nEmbd + i)]) * x[size_t(t * nEmbd + i)];
            }
            h[size_t(t * ff + j)] = silu(g) * u;
        }
    return h;
}

// y = down · swiglu(x): [tokens][nEmbd].
std::vector<double> ffn(const std::vector<float>& gate, const std::vector<float>& up,
                        const std::vector<float>& down, const std::vector<float>& x, int64_t tokens,
                        int64_t nEmbd, int64_t ff) {
    const std::vector<double> h = swiglu(gate, up, x, tokens, nEmbd, ff);
    std::vector<double> y(size_t(tokens * nEmbd), 0.0);
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t i = 0; i < nEmbd; ++i) {
            double s = 0.0;
            for (int64_t j = 0; j < ff; ++j)
                s += double(down[size_t(i * ff + j)]) * h[size_t(t * ff + j)];
            y[size_t(t * nEmbd + i)] = s;
        }
    return y;
}

} // namespace

class TestPruning : public QObject {
    Q_OBJECT

private slots:
    void validateRejectsBadPatterns() {
        auto pattern = [](double s, int n, int m) {
            SparsityPattern p;
            p.sparsity = s;
            p.n = n;
            p.m = m;
            return p;
        };
        for (const SparsityPattern& p :
             {pattern(-0.1, 0, 0), pattern(1.0, 0, 0), pattern(std::nan(""), 0, 0), pattern(0.5, 2, 0),
              pattern(0.5, 0, 4), pattern(0.5, 4, 4), pattern(0.5, 5, 4), pattern(0.5, -1, 4)}) {
            try {
                p.validate(16);
                QFAIL(qPrintable(
                    QStringLiteral("accepted sparsity %1, %2:%3").arg(p.sparsity).arg(p.n).arg(p.m)));
            } catch (const Error& e) {
                QCOMPARE(e.category(), ErrorCategory::InvalidArgument);
            }
        }
        QVERIFY_THROWS_EXCEPTION(Error, pattern(0.5, 2, 4).validate(10)); // not whole groups
        QVERIFY_THROWS_EXCEPTION(Error, pattern(0.5, 0, 0).validate(0));
        pattern(0.0, 0, 0).validate(7);
        pattern(0.99, 0, 0).validate(7);
        pattern(0.5, 2, 4).validate(8);
        pattern(0.5, 1, 8).validate(16);

        std::vector<float> w = test::normalValues(4 * 8, 1);
        const std::vector<float> norms(8, 1.0f);
        QVERIFY_THROWS_EXCEPTION(Error, pruneMagnitude(w, 4, 7, {}));                        // size
        QVERIFY_THROWS_EXCEPTION(Error, pruneWanda(w, 4, 8, std::span(norms).first(7), {})); // norms
        QVERIFY_THROWS_EXCEPTION(Error,
                                 pruneSparseGpt(w, 4, 8, SquareMatrix{7, std::vector<double>(49)}, {}));
        SquareMatrix negative{8, std::vector<double>(64, 0.0)};
        for (int i = 0; i < 8; ++i)
            negative.at(i, i) = -1.0;
        QVERIFY_THROWS_EXCEPTION(Error, pruneSparseGpt(w, 4, 8, negative, {})); // not positive definite
        w[5] = std::nanf("");
        QVERIFY_THROWS_EXCEPTION(Error, pruneMagnitude(w, 4, 8, {}));
    }

    void nmPatternHoldsInEveryGroup_data() {
        QTest::addColumn<int>("method");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::addColumn<int>("blockSize");
        for (int method = 0; method < 3; ++method) {
            const char* name = method == 0 ? "magnitude" : method == 1 ? "wanda" : "sparsegpt";
            QTest::addRow("%s 2:4", name) << method << 2 << 4 << 128;
            QTest::addRow("%s 1:4", name) << method << 1 << 4 << 128;
            QTest::addRow("%s 4:8 block 12", name) << method << 4 << 8 << 12; // rounded up to 16
        }
    }
    void nmPatternHoldsInEveryGroup() {
        QFETCH(int, method);
        QFETCH(int, n);
        QFETCH(int, m);
        QFETCH(int, blockSize);
        const int64_t rows = 37, cols = 64, tokens = 96;
        std::vector<float> w = test::normalValues(size_t(rows * cols), 11);
        const std::vector<float> x = correlatedInputs(tokens, cols, 12);
        SparsityPattern p;
        p.n = n;
        p.m = m;
        const int64_t zeroed = prune(Method(method), w, rows, cols, p, x, tokens, blockSize);
        QCOMPARE(zeroed, rows * cols / m * (m - n));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t g = 0; g < cols; g += m) {
                int nonZero = 0;
                for (int64_t k = g; k < g + m; ++k)
                    nonZero += w[size_t(r * cols + k)] != 0.0f;
                QCOMPARE(nonZero, n);
            }
    }

    void unstructuredZeroesTheShareOfEveryRow_data() {
        QTest::addColumn<int>("method");
        QTest::addColumn<double>("sparsity");
        QTest::addColumn<int>("cols");
        QTest::addColumn<int>("blockSize");
        for (int method = 0; method < 3; ++method) {
            const char* name = method == 0 ? "magnitude" : method == 1 ? "wanda" : "sparsegpt";
            QTest::addRow("%s 50%%", name) << method << 0.5 << 64 << 128;
            QTest::addRow("%s 30%% of 50, block 16", name) << method << 0.3 << 50 << 16;
            QTest::addRow("%s 29%% of 100, block 32", name) << method << 0.29 << 100 << 32;
            QTest::addRow("%s 70%% of 33, block 8", name) << method << 0.7 << 33 << 8;
            QTest::addRow("%s 0%%", name) << method << 0.0 << 40 << 128;
        }
    }
    void unstructuredZeroesTheShareOfEveryRow() {
        QFETCH(int, method);
        QFETCH(double, sparsity);
        QFETCH(int, cols);
        QFETCH(int, blockSize);
        const int64_t rows = 21, tokens = 128;
        std::vector<float> w = test::normalValues(size_t(rows * cols), 21);
        const std::vector<float> x = correlatedInputs(tokens, cols, 22);
        SparsityPattern p;
        p.sparsity = sparsity;
        const int64_t perRow = int64_t(std::floor(sparsity * cols + 1e-9));
        if (sparsity == 0.29) QCOMPARE(perRow, int64_t(29));
        QCOMPARE(p.zerosPerRow(cols), perRow);
        QCOMPARE(prune(Method(method), w, rows, cols, p, x, tokens, blockSize), rows * perRow);
        for (int64_t r = 0; r < rows; ++r)
            QCOMPARE(std::count(w.begin() + r * cols, w.begin() + (r + 1) * cols, 0.0f), perRow);
    }

    void magnitudeKeepsTheLargest_data() {
        QTest::addColumn<double>("sparsity");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::newRow("50%") << 0.5 << 0 << 0;
        QTest::newRow("37%") << 0.37 << 0 << 0;
        QTest::newRow("2:4") << 0.5 << 2 << 4;
        QTest::newRow("3:8") << 0.5 << 3 << 8;
    }
    void magnitudeKeepsTheLargest() {
        QFETCH(double, sparsity);
        QFETCH(int, n);
        QFETCH(int, m);
        const int64_t rows = 13, cols = 48;
        const std::vector<float> original = test::normalValues(size_t(rows * cols), 31);
        std::vector<float> w = original;
        const SparsityPattern p{sparsity, n, m};
        pruneMagnitude(w, rows, cols, p);
        // Each group (the whole row when unstructured) sorted by |w|: the largest `keep` survive unchanged.
        const int64_t group = m ? m : cols;
        const int64_t keep = m ? n : cols - int64_t(std::floor(sparsity * cols + 1e-9));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t g = 0; g < cols; g += group) {
                std::vector<int64_t> idx(size_t(group), 0);
                std::iota(idx.begin(), idx.end(), r * cols + g);
                std::sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
                    return std::fabs(original[size_t(a)]) > std::fabs(original[size_t(b)]);
                });
                for (int64_t i = 0; i < group; ++i) {
                    const size_t at = size_t(idx[size_t(i)]);
                    QCOMPARE(w[at], i < keep ? original[at] : 0.0f);
                }
            }
    }

    void wandaWithEqualNormsIsMagnitude_data() {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::newRow("50%") << 0 << 0;
        QTest::newRow("2:4") << 2 << 4;
    }
    void wandaWithEqualNormsIsMagnitude() {
        QFETCH(int, n);
        QFETCH(int, m);
        const int64_t rows = 40, cols = 96;
        const std::vector<float> original = test::normalValues(size_t(rows * cols), 41);
        const SparsityPattern p{0.5, n, m};
        std::vector<float> magnitude = original, wanda = original;
        pruneMagnitude(magnitude, rows, cols, p);
        pruneWanda(wanda, rows, cols, std::vector<float>(size_t(cols), 3.7f), p);
        QVERIFY(magnitude == wanda);
    }

    void wandaBeatsMagnitudeWithOutlierInputs_data() {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::newRow("50%") << 0 << 0;
        QTest::newRow("2:4") << 2 << 4;
    }
    void wandaBeatsMagnitudeWithOutlierInputs() {
        QFETCH(int, n);
        QFETCH(int, m);
        const int64_t rows = 64, cols = 128, tokens = 256;
        const std::vector<float> original = test::normalValues(size_t(rows * cols), 51);
        std::vector<float> x = test::normalValues(size_t(tokens * cols), 52);
        for (int64_t t = 0; t < tokens; ++t) // every 8th input 10x larger: LLMs' outlier features
            for (int64_t c = 0; c < cols; c += 8)
                x[size_t(t * cols + c)] *= 10.0f;
        const SparsityPattern p{0.5, n, m};
        std::vector<float> magnitude = original, wanda = original;
        pruneMagnitude(magnitude, rows, cols, p);
        pruneWanda(wanda, rows, cols, columnNorms(x, tokens, cols), p);
        const double reference =
            outputError(original, std::vector<float>(original.size(), 0.0f), rows, cols, x, tokens);
        const double magnitudeError = outputError(original, magnitude, rows, cols, x, tokens) / reference;
        const double wandaError = outputError(original, wanda, rows, cols, x, tokens) / reference;
        qInfo("outlier inputs, %s: relative output error magnitude %.4f, wanda %.4f", n ? "2:4" : "50%",
              magnitudeError, wandaError);
        QVERIFY(wandaError < magnitudeError);
    }

    void sparseGptMatchesSequentialObs_data() {
        QTest::addColumn<double>("sparsity");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::addColumn<int>("blockSize");
        QTest::newRow("50%, one block") << 0.5 << 0 << 0 << 128;
        QTest::newRow("50%, blocks of 16") << 0.5 << 0 << 0 << 16;
        QTest::newRow("30%, blocks of 12") << 0.3 << 0 << 0 << 12;
        QTest::newRow("2:4, blocks of 8") << 0.5 << 2 << 4 << 8;
        QTest::newRow("2:4, blocks of 6 (8)") << 0.5 << 2 << 4 << 6;
    }
    void sparseGptMatchesSequentialObs() {
        QFETCH(double, sparsity);
        QFETCH(int, n);
        QFETCH(int, m);
        QFETCH(int, blockSize);
        const int64_t rows = 35, cols = 48, tokens = 200; // three tiles of 16 rows, the last partial
        const std::vector<float> original = test::normalValues(size_t(rows * cols), 61);
        const std::vector<float> x = correlatedInputs(tokens, cols, 62);
        const SparsityPattern p{sparsity, n, m};
        std::vector<float> w = original;
        pruneSparseGpt(w, rows, cols, hessianOf(x, tokens, cols), p, 0.01, blockSize);
        const int64_t block = m ? (blockSize + m - 1) / m * m : blockSize;
        const std::vector<float> want =
            sequentialObs(original, rows, cols, hessianOf(x, tokens, cols), p, 0.01, block);
        double worst = 0.0, largest = 0.0;
        for (size_t i = 0; i < w.size(); ++i) {
            QCOMPARE(w[i] == 0.0f, want[i] == 0.0f); // the same mask
            worst = std::max(worst, std::fabs(double(w[i]) - want[i]));
            largest = std::max(largest, std::fabs(double(want[i])));
        }
        QVERIFY2(worst <= 1e-5 * largest,
                 qPrintable(QStringLiteral("max difference %1 of %2").arg(worst).arg(largest)));
    }

    void sparseGptHasTheLowestErrorOnCorrelatedInputs_data() {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::addColumn<int>("blockSize");
        QTest::addColumn<int>("latent");
        QTest::newRow("50%") << 0 << 0 << 128 << 128;
        QTest::newRow("50%, blocks of 32") << 0 << 0 << 32 << 128;
        QTest::newRow("2:4") << 2 << 4 << 128 << 128;
        QTest::newRow("50%, 32 latent factors") << 0 << 0 << 128 << 32;
        QTest::newRow("2:4, 32 latent factors") << 2 << 4 << 128 << 32;
    }
    void sparseGptHasTheLowestErrorOnCorrelatedInputs() {
        QFETCH(int, n);
        QFETCH(int, m);
        QFETCH(int, blockSize);
        QFETCH(int, latent);
        const int64_t rows = 64, cols = 128, tokens = 512;
        const std::vector<float> original = test::normalValues(size_t(rows * cols), 71);
        const std::vector<float> x = correlatedInputs(tokens, cols, 72, latent);
        const SparsityPattern p{0.5, n, m};
        std::vector<float> magnitude = original, wanda = original, sparseGpt = original;
        pruneMagnitude(magnitude, rows, cols, p);
        pruneWanda(wanda, rows, cols, columnNorms(x, tokens, cols), p);
        pruneSparseGpt(sparseGpt, rows, cols, inputHessian(x, tokens, cols), p, 0.01, blockSize);
        const double reference =
            outputError(original, std::vector<float>(original.size(), 0.0f), rows, cols, x, tokens);
        const double magnitudeError = outputError(original, magnitude, rows, cols, x, tokens) / reference;
        const double wandaError = outputError(original, wanda, rows, cols, x, tokens) / reference;
        const double sparseGptError = outputError(original, sparseGpt, rows, cols, x, tokens) / reference;
        qInfo(
            "correlated inputs (%d factors), %s, block %d: relative output error magnitude %.4f, wanda %.4f, "
            "sparsegpt %.4f",
            latent, n ? "2:4" : "50%", blockSize, magnitudeError, wandaError, sparseGptError);
        QVERIFY(sparseGptError < magnitudeError);
        QVERIFY(sparseGptError < wandaError);
    }

    void sparseGptWithWhiteInputsIsMagnitude_data() {
        QTest::addColumn<double>("scale");
        QTest::addColumn<double>("sparsity");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::newRow("H = I, 50%") << 1.0 << 0.5 << 0 << 0;
        QTest::newRow("H = 2I, 2:4") << 2.0 << 0.5 << 2 << 4;
        QTest::newRow("H = 0.3I, 60%") << 0.3 << 0.6 << 0 << 0;
    }
    void sparseGptWithWhiteInputsIsMagnitude() {
        QFETCH(double, scale);
        QFETCH(double, sparsity);
        QFETCH(int, n);
        QFETCH(int, m);
        // H = c·I: damping keeps it a multiple of I, U is diagonal, so no weight is updated and the
        // score w² / U_jj² orders the weights as |w| does.
        const int64_t rows = 24, cols = 64;
        const std::vector<float> original = test::normalValues(size_t(rows * cols), 81);
        const SparsityPattern p{sparsity, n, m};
        SquareMatrix h{cols, std::vector<double>(size_t(cols * cols), 0.0)};
        for (int64_t i = 0; i < cols; ++i)
            h.at(i, i) = scale;
        std::vector<float> magnitude = original, sparseGpt = original;
        pruneMagnitude(magnitude, rows, cols, p);
        // Unstructured magnitude chooses over the whole row; SparseGPT per block, so one block here.
        pruneSparseGpt(sparseGpt, rows, cols, h, p, 0.01, 128);
        QVERIFY(magnitude == sparseGpt);
    }

    void sparseGptPrunesDeadInputsFirst() {
        const int64_t rows = 9, cols = 32, tokens = 100;
        std::vector<float> x = correlatedInputs(tokens, cols, 91);
        for (int64_t t = 0; t < tokens; ++t) {
            x[size_t(t * cols + 3)] = 0.0f;
            x[size_t(t * cols + 17)] = 0.0f;
        }
        std::vector<float> w = test::normalValues(size_t(rows * cols), 92, 5.0f);
        pruneSparseGpt(w, rows, cols, inputHessian(x, tokens, cols), SparsityPattern{0.25, 0, 0});
        for (int64_t r = 0; r < rows; ++r) {
            QCOMPARE(w[size_t(r * cols + 3)], 0.0f);
            QCOMPARE(w[size_t(r * cols + 17)], 0.0f);
            QCOMPARE(std::count(w.begin() + r * cols, w.begin() + (r + 1) * cols, 0.0f), int64_t(8));
        }
    }

    void ffnChannelPruningKeepsTheImportantChannels() {
        const int64_t nEmbd = 8, ff = 24, tokens = 40, keepCount = 15;
        const std::vector<float> gate = test::normalValues(size_t(ff * nEmbd), 101, 0.5f);
        const std::vector<float> up = test::normalValues(size_t(ff * nEmbd), 102, 0.5f);
        std::vector<float> down = test::normalValues(size_t(nEmbd * ff), 103, 0.5f);
        for (int64_t i = 0; i < nEmbd; ++i) // channels with small and large output weights
            for (int64_t j = 0; j < ff; ++j)
                down[size_t(i * ff + j)] *= 0.2f + float(j % 5);
        const std::vector<float> x = test::normalValues(size_t(tokens * nEmbd), 104);

        // Norms of down's inputs over the tokens, and the importance written out.
        const std::vector<double> h = swiglu(gate, up, x, tokens, nEmbd, ff);
        std::vector<float> norms(size_t(ff), 0.0f);
        std::vector<double> want(size_t(ff), 0.0);
        for (int64_t j = 0; j < ff; ++j) {
            double s = 0.0, c = 0.0;
            for (int64_t t = 0; t < tokens; ++t)
                s += h[size_t(t * ff + j)] * h[size_t(t * ff + j)];
            for (int64_t i = 0; i < nEmbd; ++i)
                c += double(down[size_t(i * ff + j)]) * down[size_t(i * ff + j)];
            norms[size_t(j)] = float(std::sqrt(s));
            want[size_t(j)] = double(norms[size_t(j)]) * std::sqrt(c);
        }
        const std::vector<double> importance = ffnChannelImportance(down, nEmbd, ff, norms);
        QCOMPARE(importance.size(), size_t(ff));
        for (int64_t j = 0; j < ff; ++j)
            QVERIFY(std::fabs(importance[size_t(j)] - want[size_t(j)]) <= 1e-12 * want[size_t(j)]);

        const std::vector<int64_t> keep = channelsToKeep(importance, keepCount);
        std::vector<int64_t> byImportance(size_t(ff), 0);
        std::iota(byImportance.begin(), byImportance.end(), 0);
        std::sort(byImportance.begin(), byImportance.end(),
                  [&](int64_t a, int64_t b) { return want[size_t(a)] > want[size_t(b)]; });
        std::vector<int64_t> top(byImportance.begin(), byImportance.begin() + keepCount);
        std::sort(top.begin(), top.end());
        QVERIFY(keep == top);

        const FfnWeights pruned = keepFfnChannels(gate, up, down, nEmbd, ff, keep);
        QCOMPARE(pruned.ff, keepCount);
        QCOMPARE(pruned.gate.size(), size_t(keepCount * nEmbd));
        QCOMPARE(pruned.up.size(), size_t(keepCount * nEmbd));
        QCOMPARE(pruned.down.size(), size_t(nEmbd * keepCount));
        std::vector<float> zeroed = down;
        for (int64_t j = 0; j < ff; ++j)
            if (!std::binary_search(keep.begin(), keep.end(), j))
                for (int64_t i = 0; i < nEmbd; ++i)
                    zeroed[size_t(i * ff + j)] = 0.0f;
        const std::vector<double> full = ffn(gate, up, zeroed, x, tokens, nEmbd, ff);
        const std::vector<double> small =
            ffn(pruned.gate, pruned.up, pruned.down, x, tokens, nEmbd, keepCount);
        for (size_t i = 0; i < full.size(); ++i)
            QVERIFY(std::fabs(full[i] - small[i]) <= 1e-5);
        double lost = 0.0, all = 0.0;
        const std::vector<double> unpruned = ffn(gate, up, down, x, tokens, nEmbd, ff);
        for (size_t i = 0; i < full.size(); ++i) {
            lost += (unpruned[i] - full[i]) * (unpruned[i] - full[i]);
            all += unpruned[i] * unpruned[i];
        }
        qInfo("ffn: keeping %lld of %lld channels leaves a relative output error of %.4f",
              (long long)keepCount, (long long)ff, lost / all);
    }

    void channelsToKeepBreaksTiesByChannel() {
        const std::vector<double> importance{1.0, 3.0, 2.0, 3.0, 2.0, 0.5};
        QVERIFY((channelsToKeep(importance, 3) == std::vector<int64_t>{1, 2, 3}));
        QVERIFY((channelsToKeep(importance, 6) == std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
        QVERIFY_THROWS_EXCEPTION(Error, channelsToKeep(importance, 0));
        QVERIFY_THROWS_EXCEPTION(Error, channelsToKeep(importance, 7));
        const std::vector<float> m(12, 1.0f);
        const std::vector<int64_t> unordered{2, 1};
        QVERIFY_THROWS_EXCEPTION(Error, keepFfnChannels(m, m, m, 3, 4, unordered));
        const std::vector<int64_t> outside{1, 4};
        QVERIFY_THROWS_EXCEPTION(Error, keepFfnChannels(m, m, m, 3, 4, outside));
    }
};

QTEST_APPLESS_MAIN(TestPruning)
#include "TestPruning.moc"

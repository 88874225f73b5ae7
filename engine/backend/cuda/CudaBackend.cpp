#include "backend/cuda/CudaBackend.h"

#include "backend/cuda/CudaCheck.h"
#include "backend/cuda/CudaDevices.h"
#include "backend/cuda/DevicePool.h"
#include "backend/cuda/DeviceWeights.h"
#include "backend/cuda/GraphCache.h"
#include "backend/cuda/StepRecorder.h"
#include "core/Error.h"
#include "core/Half.h"
#include "io/Quants.h"
#include "kernels/ActivationQuant.cuh"
#include "kernels/Attention.cuh"
#include "kernels/DependentLaunch.cuh"
#include "kernels/Dequant.cuh"
#include "kernels/Elementwise.cuh"
#include "kernels/Matvec.cuh"
#include "kernels/Norm.cuh"
#include "kernels/Rope.cuh"
#include "model/KvCache.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <map>
#include <spdlog/spdlog.h>
#include <type_traits>
#include <vector>

namespace lathe {
namespace {

using cuda::PoolBuffer;

// Rows of a quantized weight expanded to fp16 per GEMM tile: bounds the scratch to ~64 MiB.
constexpr int64_t kDequantTileBytes = int64_t(64) << 20;

void require(bool ok, const char* op, const char* what) {
    if (!ok) fail(ErrorCategory::Internal, "cuda backend {}: {}", op, what);
}

// Owning device allocation for data that lives as long as the model (weights, the KV pool).
class DeviceArray {
public:
    DeviceArray() = default;
    explicit DeviceArray(size_t bytes) : bytes_(bytes) { LATHE_CUDA_CHECK(cudaMalloc(&pointer_, bytes)); }
    ~DeviceArray() {
        if (pointer_) cudaFree(pointer_);
    }
    DeviceArray(DeviceArray&& o) noexcept : pointer_(o.pointer_), bytes_(o.bytes_) { o.pointer_ = nullptr; }
    DeviceArray& operator=(DeviceArray&& o) noexcept {
        std::swap(pointer_, o.pointer_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    template <typename T = void> T* get() const { return static_cast<T*>(pointer_); }
    size_t bytes() const { return bytes_; }

private:
    void* pointer_ = nullptr;
    size_t bytes_ = 0;
};

class CudaWeight final : public BackendWeight {
public:
    CudaWeight(const TensorView& view, DType deviceFormat, DeviceArray data)
        : BackendWeight(view), deviceFormat_(deviceFormat), data_(std::move(data)) {}
    DType deviceFormat() const { return deviceFormat_; } // F32 for one-row tensors (norms, biases)
    const void* data() const { return data_.get(); }

private:
    DType deviceFormat_;
    DeviceArray data_;
};

const CudaWeight& cudaWeight(const BackendWeight& weight) {
    const auto* w = dynamic_cast<const CudaWeight*>(&weight);
    require(w != nullptr, "weight", "handle was made by another backend");
    return *w;
}

// An activation buffer in device memory; grows by reallocation (which synchronises the device, so a
// forward pass of the same shape as the last one allocates nothing). A step being recorded runs what
// it recorded first, since those launches still read the old buffer.
class DeviceActivations final : public Activations {
public:
    explicit DeviceActivations(cuda::StepRecorder* recorder = nullptr) : recorder_(recorder) {}
    ~DeviceActivations() override {
        if (data_) cudaFree(data_);
    }
    void setRecorder(cuda::StepRecorder* recorder) { recorder_ = recorder; }
    void resize(size_t count) override {
        if (count > capacity_) {
            if (recorder_) recorder_->flush();
            if (data_) cudaFree(data_);
            data_ = nullptr;
            capacity_ = 0;
            LATHE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), count * sizeof(float)));
            capacity_ = count;
        }
        size_ = count;
    }
    float* data() const { return data_; }

private:
    cuda::StepRecorder* recorder_;
    float* data_ = nullptr;
    size_t capacity_ = 0;
};

float* device(Activations& buffer) {
    auto* d = dynamic_cast<DeviceActivations*>(&buffer);
    require(d != nullptr, "activations", "buffer was made by another backend");
    return d->data();
}
const float* device(const Activations& buffer) {
    return device(const_cast<Activations&>(buffer));
}

// A small host array (positions, slots, block tables) kept on the device and re-sent only when its
// contents change: the layers of one forward pass share them, so a decode step sends each once.
template <typename T> class DeviceMirroredArray {
public:
    const T* send(std::span<const T> values, cudaStream_t stream) {
        if (device_.get() && values.size() == host_.size() &&
            std::equal(values.begin(), values.end(), host_.begin()))
            return device_.template get<T>();
        if (values.size() * sizeof(T) > device_.bytes() || !device_.get())
            device_ = DeviceArray(std::max<size_t>(64, values.size() * 2) * sizeof(T));
        host_.assign(values.begin(), values.end());
        // From pageable memory the call returns once the values are staged: host_ may change after.
        if (!values.empty())
            LATHE_CUDA_CHECK(cudaMemcpyAsync(device_.get(), host_.data(), values.size() * sizeof(T),
                                             cudaMemcpyHostToDevice, stream));
        return device_.template get<T>();
    }

    // The staged copy of the same values made earlier in recorded step `step`, or null.
    const T* stagedIn(uint64_t step, std::span<const T> values) const {
        if (step != stagedStep_ || values.size() != staged_.size() ||
            !std::equal(values.begin(), values.end(), staged_.begin()))
            return nullptr;
        return stagedDevice_;
    }
    void rememberStaged(uint64_t step, std::span<const T> values, const T* device) {
        stagedStep_ = step;
        staged_.assign(values.begin(), values.end());
        stagedDevice_ = device;
    }

private:
    std::vector<T> host_;
    DeviceArray device_;
    std::vector<T> staged_;
    const T* stagedDevice_ = nullptr;
    uint64_t stagedStep_ = 0;
};

// The bits of a launch parameter, for step signatures.
template <typename V> uint64_t signatureBits(const V& value) {
    if constexpr (std::is_pointer_v<V>)
        return uint64_t(reinterpret_cast<uintptr_t>(value));
    else if constexpr (std::is_floating_point_v<V>)
        return std::bit_cast<uint32_t>(float(value));
    else
        return static_cast<uint64_t>(value);
}
template <typename... V> uint64_t signatureOf(const V&... values) {
    uint64_t h = 0;
    ((h = cuda::mixSignature(h, signatureBits(values))), ...);
    return h;
}

// Launch kinds, the first value of each launch's signature.
enum class LaunchKind : uint64_t {
    Embed = 1,
    RmsNorm,
    AddRmsNorm,
    Matvec,
    FakeQuantize,
    Rope,
    StoreKv,
    RopeStoreKv,
    Attention,
    Swiglu,
    Add,
    CopyRows,
    GatherRows
};

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(const cuda::CudaDeviceInfo& device)
        : device_(device),
          pool_(
              [](size_t n) {
                  void* p = nullptr;
                  return cudaMalloc(&p, n) == cudaSuccess ? p : (cudaGetLastError(), nullptr);
              },
              [](void* p) { cudaFree(p); }) {
        LATHE_CUDA_CHECK(cudaSetDevice(device.ordinal));
        LATHE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        LATHE_CUDA_CHECK(blas_.create(&cublas_));
        LATHE_CUDA_CHECK(blas_.setStream(cublas_, stream_));
        recorder_ = std::make_unique<cuda::StepRecorder>(stream_);
        for (DeviceActivations* scratch : {&scratchA_, &scratchB_, &scratchOut_})
            scratch->setRecorder(recorder_.get());
        const char* graphs = std::getenv("LATHE_CUDA_GRAPHS");
        graphs_ = !(graphs && std::string_view(graphs) == "0");
        // Kernels overlap the tail of the one before them on sm_90 and later (kernels/DependentLaunch.cuh);
        // LATHE_CUDA_PDL=0 turns that off.
        const char* dependent = std::getenv("LATHE_CUDA_PDL");
        kernels::setDependentLaunch(device.computeMajor >= 9 &&
                                    !(dependent && std::string_view(dependent) == "0"));
    }
    ~CudaBackend() override {
        if (recorder_->graphReplays() + recorder_->graphCaptures() > 0)
            spdlog::debug("cuda backend: {} steps replayed from CUDA graphs, {} captured",
                          recorder_->graphReplays(), recorder_->graphCaptures());
        recorder_.reset();
        cudaStreamSynchronize(stream_);
        kvPool_ = DeviceArray();
        blas_.destroy(cublas_);
        cudaStreamDestroy(stream_);
    }

    std::string name() const override {
        return fmt::format("cuda:{} ({}, sm_{}{})", device_.ordinal, device_.name, device_.computeMajor,
                           device_.computeMinor);
    }

    std::unique_ptr<BackendWeight> prepareWeight(const TensorView& view) override {
        require(view.data != nullptr, "prepareWeight", "tensor has no data");
        require(view.nbytes >= view.rowStride() * uint64_t(view.rowCount()), "prepareWeight",
                "tensor bytes are shorter than its shape");
        const int64_t cols = view.rowLength(), rows = view.rowCount();
        if (rows == 1 || !kernels::hasWeightKernels(int(view.dtype), cols)) {
            // Vectors become floats; formats without device decoders (K-quants, Q5, Lathe's LQ3_64)
            // become F16 here, through io's reference dequantizer.
            const bool vector = rows == 1;
            const DType format = vector ? DType::F32 : DType::F16;
            std::vector<float> row(static_cast<size_t>(cols));
            std::vector<uint8_t> host(size_t(rows) * rowBytes(format, uint64_t(cols)));
            for (int64_t r = 0; r < rows; ++r) {
                dequantizeRow(view.dtype, view.row(r), row.data(), cols);
                quantizeRow(format, row.data(), host.data() + size_t(r) * rowBytes(format, uint64_t(cols)),
                            cols);
            }
            return std::make_unique<CudaWeight>(view, format, upload(host.data(), host.size()));
        }
        if (cuda::packsOnUpload(view.dtype)) { // quants and scales apart (kernels/WeightLayout.h)
            const std::vector<uint8_t> packed =
                cuda::packRowsForDevice(view.dtype, view.data, view.rowStride(), rows, cols);
            return std::make_unique<CudaWeight>(view, view.dtype, upload(packed.data(), packed.size()));
        }
        const size_t bytes = size_t(view.rowStride() * uint64_t(rows));
        return std::make_unique<CudaWeight>(view, view.dtype, upload(view.data, bytes));
    }

    // Per-token int8 activations (SmoothQuant W8A8) apply, as on the CPU, to weights with an integer
    // dot product there (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). One token on Q4_0/Q4_1/Q8_0 runs on int8 with
    // the row's scale; other shapes multiply the activations as those codes give them (fake-quantized,
    // kernels/ActivationQuant.cuh), in float or, through cuBLAS, in fp16.
    void setActivationQuantization(ActivationQuantization mode) override { activationMode_ = mode; }

    // ---- Buffer ops: queued on the stream, nothing waits until download(). Between beginStep and
    // endStep of a step of at most kMatvecMaxTokens rows, launches are recorded (StepRecorder) and the
    // step runs as one CUDA graph; LATHE_CUDA_GRAPHS=0 launches every op directly instead.

    void beginStep(int nTokens) override {
        forgetQuantizedX();
        if (graphs_ && nTokens >= 1 && nTokens <= kernels::kMatvecMaxTokens) recorder_->begin(nTokens);
    }
    void endStep() override { recorder_->end(); }
    void abortStep() override { recorder_->abort(); }

    std::unique_ptr<Activations> makeActivations() override {
        return std::make_unique<DeviceActivations>(recorder_.get());
    }

    void upload(std::span<const float> host, Activations& out) override {
        recorder_->flush(); // a copy from the host lands now, before what was recorded would run
        forgetQuantizedX();
        out.resize(host.size());
        if (!host.empty())
            LATHE_CUDA_CHECK(cudaMemcpyAsync(device(out), host.data(), host.size_bytes(),
                                             cudaMemcpyHostToDevice, stream_));
    }

    void download(const Activations& in, std::span<float> host) override {
        require(host.size() == in.size(), "download", "sizes differ");
        recorder_->flush();
        if (!host.empty())
            LATHE_CUDA_CHECK(
                cudaMemcpyAsync(host.data(), device(in), host.size_bytes(), cudaMemcpyDeviceToHost, stream_));
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    void embed(const BackendWeight& table, std::span<const int32_t> tokens, Activations& out) override {
        const CudaWeight& w = cudaWeight(table);
        for (int32_t token : tokens)
            if (token < 0 || token >= w.rows())
                fail(ErrorCategory::InvalidArgument,
                     "token id {} is outside the vocabulary of {} tokens ({})", token, w.rows(),
                     w.view().name);
        require(kernels::hasWeightKernels(int(w.deviceFormat()), w.cols()), "embed",
                "no kernel for the table's format");
        forgetQuantizedX();
        out.resize(tokens.size() * size_t(w.cols()));
        if (tokens.empty()) return;
        const int32_t* ids = indices(tokenIds_, tokens);
        const void* data = w.data();
        const int format = int(w.deviceFormat());
        const int64_t cols = w.cols();
        const int n = int(tokens.size());
        float* o = device(out);
        launch(signatureOf(LaunchKind::Embed, data, format, cols, ids, n, o),
               [=](cudaStream_t s) { kernels::gatherRows(data, format, cols, ids, n, o, s); });
    }

    void rmsNorm(const Activations& x, const BackendWeight& weight, int nTokens, float eps,
                 Activations& out) override {
        const CudaWeight& w = cudaWeight(weight);
        const int64_t dim = w.cols();
        require(w.rows() == 1 && int64_t(x.size()) == nTokens * dim, "rmsNorm", "sizes");
        forgetQuantizedX();
        out.resize(x.size());
        if (nTokens == 0) return;
        const float* in = device(x);
        const float* gain = static_cast<const float*>(w.data());
        float* o = device(out);
        const kernels::XCodes codes = producedCodes(o, dim, nTokens);
        launch(signatureOf(LaunchKind::RmsNorm, in, gain, nTokens, dim, eps, o, codes.q),
               [=](cudaStream_t s) { kernels::rmsNorm(in, gain, nTokens, int(dim), eps, o, s, codes); });
    }

    void addRmsNorm(const Activations& a, Activations& residual, const BackendWeight& weight, int nTokens,
                    float eps, Activations& out) override {
        const CudaWeight& w = cudaWeight(weight);
        const int64_t dim = w.cols();
        require(w.rows() == 1 && int64_t(a.size()) == nTokens * dim && residual.size() == a.size(),
                "addRmsNorm", "sizes");
        forgetQuantizedX();
        out.resize(a.size());
        if (nTokens == 0) return;
        const float* in = device(a);
        float* sum = device(residual);
        const float* gain = static_cast<const float*>(w.data());
        float* o = device(out);
        require(o != sum && o != in, "addRmsNorm", "out must not alias the inputs");
        const kernels::XCodes codes = producedCodes(o, dim, nTokens);
        launch(
            signatureOf(LaunchKind::AddRmsNorm, in, sum, gain, nTokens, dim, eps, o, codes.q),
            [=](cudaStream_t s) { kernels::addRmsNorm(in, sum, gain, nTokens, int(dim), eps, o, s, codes); });
    }

    void matmul(const BackendWeight& weight, const Activations& x, int nTokens, Activations& out,
                const BackendWeight* bias) override {
        const MatmulProduct product{&weight, bias, &out};
        runMatmuls(std::span<const MatmulProduct>(&product, 1), x, nTokens);
    }

    void matmuls(std::span<const MatmulProduct> products, const Activations& x, int nTokens) override {
        if (products.size() == 1 || oneLaunch(products, nTokens)) return runMatmuls(products, x, nTokens);
        for (const MatmulProduct& p : products)
            matmul(*p.weight, x, nTokens, *p.out, p.bias);
    }

    void rope(Activations& x, int nTokens, int nHeads, int headDim, std::span<const int32_t> positions,
              const RopeParams& params) override {
        forgetQuantizedX();
        const kernels::RopeArgs args = ropeArgs(x, nTokens, nHeads, headDim, positions, params);
        if (nTokens == 0) return;
        launch(signatureOf(LaunchKind::Rope, args.x, nTokens, nHeads, headDim, args.positions, args.nDims,
                           args.freqBase, args.halfSplit, args.freqFactors),
               [args](cudaStream_t s) { kernels::rope(args, s); });
    }

    void storeKv(const Activations& k, const Activations& v, std::span<const int32_t> seqIds,
                 std::span<const int32_t> slots, int layer, KvCache& cache) override {
        const KvStore store = kvStore(k, v, seqIds, slots, layer, cache);
        if (store.nTokens == 0) return;
        launch(signatureOf(LaunchKind::StoreKv, store.pool, store.kv.nLayers, store.kv.nHeadsKv,
                           store.kv.blockTokens, store.kv.headDim, layer, store.k, store.v, store.nTokens,
                           store.blockOf, store.slotInBlock),
               [store, layer](cudaStream_t s) {
                   kernels::storeKv(store.pool, store.kv, layer, store.k, store.v, store.nTokens,
                                    store.blockOf, store.slotInBlock, s);
               });
    }

    // One launch for rope(q), rope(k) and the KV store (kernels::ropeAndStoreKv): two fewer kernels per
    // layer in a decode step.
    void ropeAndStoreKv(Activations& q, Activations& k, const Activations& v, int nTokens, int nHeads,
                        int nHeadsKv, int headDim, std::span<const int32_t> positions,
                        const RopeParams& params, std::span<const int32_t> seqIds,
                        std::span<const int32_t> slots, int layer, KvCache& cache) override {
        forgetQuantizedX();
        require(int64_t(k.size()) == int64_t(nTokens) * nHeadsKv * headDim, "ropeAndStoreKv", "k size");
        const KvStore store = kvStore(k, v, seqIds, slots, layer, cache); // first: it may flush the recording
        require(int(seqIds.size()) == nTokens, "ropeAndStoreKv", "one sequence id per row");
        require(store.kv.nHeadsKv == nHeadsKv && store.kv.headDim == headDim, "ropeAndStoreKv",
                "the cache's heads differ from k's");
        kernels::RopeStoreKvArgs args;
        args.rope = ropeArgs(q, nTokens, nHeads, headDim, positions, params);
        if (nTokens == 0) return;
        args.k = device(k);
        args.v = store.v;
        args.pool = store.pool;
        args.kv = store.kv;
        args.layer = layer;
        args.blockOf = store.blockOf;
        args.slotInBlock = store.slotInBlock;
        const kernels::RopeArgs& r = args.rope;
        launch(signatureOf(LaunchKind::RopeStoreKv, r.x, nTokens, nHeads, headDim, r.positions, r.nDims,
                           r.freqBase, r.halfSplit, r.freqFactors, args.k, args.v, args.pool, args.kv.nLayers,
                           nHeadsKv, args.kv.blockTokens, layer, args.blockOf, args.slotInBlock),
               [args](cudaStream_t s) { kernels::ropeAndStoreKv(args, s); });
    }

    void attention(const Activations& q, const AttentionShape& shape, const AttentionMask& mask,
                   const KvCache& cache, int layer, Activations& out) override {
        const int nTokens = mask.size();
        require(shape.nHeadsKv > 0 && shape.nHeads % shape.nHeadsKv == 0, "attention", "nHeads % nHeadsKv");
        require(shape.nHeadsKv == cache.nHeadsKv() && shape.headDim == cache.headDim(), "attention",
                "shape differs from the cache's");
        require(int64_t(q.size()) == int64_t(nTokens) * shape.nHeads * shape.headDim, "attention", "q size");
        require(int(mask.prefix.size()) == nTokens && int(mask.extraBegin.size()) == nTokens + 1 &&
                    int(mask.extras.size()) == mask.extraBegin.back(),
                "attention", "mask arrays");
        require(layer >= 0 && layer < cache.nLayers(), "attention", "layer out of range");
        if (!kernels::attentionSupportsHeadDim(shape.headDim))
            fail(ErrorCategory::Unsupported,
                 "cuda backend: head size {} has no attention kernel (multiples of 32 up to 256 do)",
                 shape.headDim);
        forgetQuantizedX();
        out.resize(q.size());
        if (nTokens == 0) return;
        require(cache.instanceId() == boundCacheId_, "attention",
                "the cache holds no rows stored through this backend (storeKv comes first)");
        tableStart_.clear();
        tables_.clear();
        tableOffset_.resize(size_t(nTokens));
        int maxVisible = 0;
        for (int t = 0; t < nTokens; ++t) {
            const int32_t seq = mask.seqIds[size_t(t)];
            require(mask.prefix[size_t(t)] <= cache.length(seq), "attention",
                    "mask reaches past the cached tokens");
            auto [it, added] = tableStart_.emplace(seq, int32_t(tables_.size()));
            if (added) {
                const std::vector<int>& table = cache.blockTable(seq);
                tables_.insert(tables_.end(), table.begin(), table.end());
            }
            tableOffset_[size_t(t)] = it->second;
            maxVisible = std::max(maxVisible, mask.prefix[size_t(t)] + mask.extraBegin[size_t(t) + 1] -
                                                  mask.extraBegin[size_t(t)]);
        }
        if (tables_.empty()) tables_.push_back(0);
        const std::span<const int32_t> extras =
            mask.extras.empty() ? std::span<const int32_t>(kNoExtras) : std::span<const int32_t>(mask.extras);
        kernels::AttentionArgs args;
        args.q = device(q);
        args.out = device(out);
        args.nTokens = nTokens;
        args.nHeads = shape.nHeads;
        args.scale = shape.scale;
        args.kv = pagedKv();
        args.layer = layer;
        args.tableOffset = indices(attnTableOffset_, std::span<const int32_t>(tableOffset_));
        args.blockTables = indices(attnTables_, std::span<const int32_t>(tables_));
        args.prefix = indices(attnPrefix_, std::span<const int32_t>(mask.prefix));
        args.extraBegin = indices(attnExtraBegin_, std::span<const int32_t>(mask.extraBegin));
        args.extras = indices(attnExtras_, extras);
        // A recorded step rounds the splits up to a power of two, so its graph serves a growing context
        // until the next power of two (empty splits cost one idle block each).
        args.splits = kernels::attentionSplits(maxVisible);
        if (recorder_->recording()) args.splits = cuda::graphSplitBucket(args.splits);
        args.maxVisible = args.splits * kernels::kAttentionChunk;
        PoolBuffer workspaceLease;
        const int64_t workspaceFloats =
            kernels::attentionWorkspaceFloats(nTokens, shape.nHeads, shape.headDim, args.splits);
        args.workspace =
            workspaceFloats == 0
                ? nullptr
                : static_cast<float*>(scratch(size_t(workspaceFloats) * sizeof(float), workspaceLease));
        args.codes = producedCodes(args.out, int64_t(shape.nHeads) * shape.headDim, nTokens);
        launch(signatureOf(LaunchKind::Attention, args.q, args.out, nTokens, args.nHeads, args.scale,
                           args.kv.pool, args.kv.nLayers, args.kv.nHeadsKv, args.kv.blockTokens,
                           args.kv.headDim, layer, args.tableOffset, args.blockTables, args.prefix,
                           args.extraBegin, args.extras, args.splits, args.workspace, args.codes.q),
               [args](cudaStream_t s) { kernels::pagedAttention(args, s); });
    }

    void swiglu(const Activations& gate, const Activations& up, Activations& out) override {
        require(gate.size() == up.size(), "swiglu", "sizes differ");
        forgetQuantizedX();
        out.resize(up.size());
        if (up.size() == 0) return;
        const float* g = device(gate);
        const float* u = device(up);
        float* o = device(out);
        const int64_t n = int64_t(up.size());
        // After single-token gate and up matmuls the result is one row: codes for the down projection.
        const kernels::XCodes codes = producedCodes(o, n, lastMatmulTokens_ == 1 ? 1 : 0);
        launch(signatureOf(LaunchKind::Swiglu, g, u, n, o, codes.q),
               [=](cudaStream_t s) { kernels::swiglu(g, u, n, o, s, codes); });
    }

    void add(const Activations& a, const Activations& b, Activations& out) override {
        require(a.size() == b.size(), "add", "sizes differ");
        forgetQuantizedX();
        out.resize(a.size());
        if (a.size() == 0) return;
        const float* x = device(a);
        const float* y = device(b);
        float* o = device(out);
        const int64_t n = int64_t(a.size());
        launch(signatureOf(LaunchKind::Add, x, y, n, o),
               [=](cudaStream_t s) { kernels::add(x, y, n, o, s); });
    }

    void gatherRows(const Activations& x, std::span<const int32_t> rows, int64_t width,
                    Activations& out) override {
        const int64_t available = width > 0 ? int64_t(x.size()) / width : 0;
        for (int32_t row : rows)
            require(row >= 0 && row < available, "gatherRows", "row outside the buffer");
        forgetQuantizedX();
        out.resize(rows.size() * size_t(width));
        if (rows.empty()) return;
        bool consecutive = true;
        for (size_t j = 1; j < rows.size(); ++j)
            consecutive = consecutive && rows[j] == rows[j - 1] + 1;
        float* o = device(out);
        if (consecutive) {
            const float* from = device(x) + int64_t(rows[0]) * width;
            const size_t bytes = out.size() * sizeof(float);
            launch(signatureOf(LaunchKind::CopyRows, from, o, bytes), [=](cudaStream_t s) {
                LATHE_CUDA_CHECK(cudaMemcpyAsync(o, from, bytes, cudaMemcpyDeviceToDevice, s));
            });
            return;
        }
        const float* in = device(x);
        const int32_t* ids = indices(gatherIds_, rows);
        const int n = int(rows.size());
        launch(signatureOf(LaunchKind::GatherRows, in, width, ids, n, o),
               [=](cudaStream_t s) { kernels::gatherRows(in, int(DType::F32), width, ids, n, o, s); });
    }

    CudaGraphStats graphStats() const { return {recorder_->graphReplays(), recorder_->graphCaptures()}; }

    double memoryReadBandwidth() override {
        if (readBandwidth_ > 0) return readBandwidth_;
        // 1 GiB, far beyond the L2, filled with a non-zero pattern; median of 7 timed passes.
        const size_t bytes = size_t(1) << 30;
        const int blocks = device_.multiprocessors * 8;
        DeviceArray data(bytes), sums(size_t(blocks) * sizeof(float));
        LATHE_CUDA_CHECK(cudaMemsetAsync(data.get(), 0x3c, bytes, stream_));
        LATHE_CUDA_CHECK(cudaMemsetAsync(sums.get(), 0, sums.bytes(), stream_));
        cudaEvent_t begin, end;
        LATHE_CUDA_CHECK(cudaEventCreate(&begin));
        LATHE_CUDA_CHECK(cudaEventCreate(&end));
        std::vector<float> milliseconds;
        for (int pass = 0; pass < 9; ++pass) {
            LATHE_CUDA_CHECK(cudaEventRecord(begin, stream_));
            kernels::readProbe(data.get(), int64_t(bytes), sums.get<float>(), blocks, stream_);
            LATHE_CUDA_CHECK(cudaGetLastError());
            LATHE_CUDA_CHECK(cudaEventRecord(end, stream_));
            LATHE_CUDA_CHECK(cudaEventSynchronize(end));
            float ms = 0;
            LATHE_CUDA_CHECK(cudaEventElapsedTime(&ms, begin, end));
            if (pass >= 2) milliseconds.push_back(ms); // two warm-up passes
        }
        cudaEventDestroy(begin);
        cudaEventDestroy(end);
        std::sort(milliseconds.begin(), milliseconds.end());
        readBandwidth_ = double(bytes) / (double(milliseconds[milliseconds.size() / 2]) * 1e-3);
        return readBandwidth_;
    }

    // ---- Span ops (the op tests' form): through scratch device buffers.

    void embed(const BackendWeight& table, std::span<const int32_t> tokens, std::span<float> out) override {
        require(int64_t(out.size()) == int64_t(tokens.size()) * table.cols(), "embed", "output size");
        embed(table, tokens, scratchOut_);
        download(scratchOut_, out);
    }

    void rmsNorm(std::span<const float> x, const BackendWeight& weight, int nTokens, float eps,
                 std::span<float> out) override {
        require(out.size() == x.size(), "rmsNorm", "sizes");
        upload(x, scratchA_);
        rmsNorm(scratchA_, weight, nTokens, eps, scratchOut_);
        download(scratchOut_, out);
    }

    void matmul(const BackendWeight& weight, std::span<const float> x, int nTokens, std::span<float> out,
                const BackendWeight* bias) override {
        require(int64_t(out.size()) == nTokens * weight.rows(), "matmul",
                "output size is not nTokens x rows");
        upload(x, scratchA_);
        matmul(weight, scratchA_, nTokens, scratchOut_, bias);
        download(scratchOut_, out);
    }

    void rope(std::span<float> x, int nTokens, int nHeads, int headDim, std::span<const int32_t> positions,
              const RopeParams& params) override {
        upload(x, scratchA_);
        rope(scratchA_, nTokens, nHeads, headDim, positions, params);
        download(scratchA_, x);
    }

    void storeKv(std::span<const float> k, std::span<const float> v, std::span<const int32_t> seqIds,
                 std::span<const int32_t> slots, int layer, KvCache& cache) override {
        upload(k, scratchA_);
        upload(v, scratchB_);
        storeKv(scratchA_, scratchB_, seqIds, slots, layer, cache);
    }

    void attention(std::span<const float> q, const AttentionShape& shape, const AttentionMask& mask,
                   const KvCache& cache, int layer, std::span<float> out) override {
        require(out.size() == q.size(), "attention", "q/out size");
        upload(q, scratchA_);
        attention(scratchA_, shape, mask, cache, layer, scratchOut_);
        download(scratchOut_, out);
    }

    void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out) override {
        require(gate.size() == up.size() && out.size() == up.size(), "swiglu", "sizes differ");
        upload(gate, scratchA_);
        upload(up, scratchB_);
        swiglu(scratchA_, scratchB_, scratchOut_);
        download(scratchOut_, out);
    }

    void add(std::span<const float> a, std::span<const float> b, std::span<float> out) override {
        require(a.size() == b.size() && out.size() == a.size(), "add", "sizes differ");
        upload(a, scratchA_);
        upload(b, scratchB_);
        add(scratchA_, scratchB_, scratchOut_);
        download(scratchOut_, out);
    }

private:
    static constexpr int32_t kNoExtras[1] = {0};

    void launch(uint64_t signature, cuda::StepRecorder::Launch run) {
        recorder_->launch(signature, std::move(run));
    }

    // A device copy of small per-step index arrays: staged with the recorded step, or sent now.
    template <typename T> const T* indices(DeviceMirroredArray<T>& mirror, std::span<const T> values) {
        if (recorder_->recording()) {
            const uint64_t step = recorder_->stepNumber();
            if (const T* staged = mirror.stagedIn(step, values)) return staged;
            if (const T* staged = recorder_->stage(values)) {
                mirror.rememberStaged(step, values, staged);
                return staged;
            }
            recorder_->flush(); // the staging reserve is full; it grows for the next step
        }
        return mirror.send(values, stream_);
    }

    // Scratch device memory for one launch: the recorder's while recording, else a pool buffer that
    // `lease` holds (released when the op returns; later users are on the same stream).
    void* scratch(size_t bytes, PoolBuffer& lease) {
        if (recorder_->recording()) {
            if (void* reserved = recorder_->scratch(bytes)) return reserved;
            recorder_->flush();
        }
        lease = PoolBuffer(pool_, bytes);
        return lease.get();
    }

    // Products of one x that run as one mat-vec launch: one token, block activations, one weight
    // format and row length with mat-vec kernels, at most kMatvecMaxParts.
    bool oneLaunch(std::span<const MatmulProduct> products, int nTokens) const {
        if (nTokens != 1 || products.empty() || products.size() > size_t(kernels::kMatvecMaxParts) ||
            activationMode_ != ActivationQuantization::PerBlock)
            return false;
        const CudaWeight& first = cudaWeight(*products[0].weight);
        for (const MatmulProduct& p : products) {
            const CudaWeight& w = cudaWeight(*p.weight);
            if (w.deviceFormat() != first.deviceFormat() || w.cols() != first.cols()) return false;
        }
        return kernels::hasWeightKernels(int(first.deviceFormat()), first.cols());
    }

    // out = w · x (+ bias) for each product: one mat-vec launch for all of them (oneLaunch), else a
    // single product through the mat-vec or the cuBLAS GEMM.
    void runMatmuls(std::span<const MatmulProduct> products, const Activations& x, int nTokens) {
        const CudaWeight& w = cudaWeight(*products[0].weight);
        const int64_t cols = w.cols();
        require(int64_t(x.size()) == nTokens * cols, "matmul", "input size is not nTokens x cols");
        const float* biasData[kernels::kMatvecMaxParts] = {};
        for (size_t i = 0; i < products.size(); ++i) {
            const CudaWeight& wi = cudaWeight(*products[i].weight);
            if (products[i].bias) {
                const CudaWeight& b = cudaWeight(*products[i].bias);
                require(b.rows() == 1 && b.cols() == wi.rows(), "matmul", "bias length is not rows");
                biasData[i] = static_cast<const float*>(b.data());
            }
            products[i].out->resize(size_t(nTokens) * size_t(wi.rows()));
        }
        lastMatmulTokens_ = nTokens;
        if (nTokens == 0) return;
        for (const MatmulProduct& p : products)
            require(device(*p.out) != device(x), "matmul", "out must not alias x");
        const int64_t rows = w.rows();
        kernels::MatvecArgs args;
        args.w = w.data();
        args.dtype = int(w.deviceFormat());
        args.rows = rows;
        args.cols = cols;
        args.x = device(x);
        args.nTokens = nTokens;
        args.bias = biasData[0];
        args.out = device(*products[0].out);
        for (size_t i = 1; i < products.size(); ++i) {
            const CudaWeight& wi = cudaWeight(*products[i].weight);
            args.more[i - 1] = {wi.data(), wi.rows(), biasData[i], device(*products[i].out)};
        }
        args.moreParts = int(products.size()) - 1;
        PoolBuffer quantizedLease;
        const DType stored = w.view().dtype;
        const bool perToken = activationMode_ == ActivationQuantization::PerTokenInt8 &&
                              (stored == DType::Q4_0 || stored == DType::Q4_1 || stored == DType::Q5_0 ||
                               stored == DType::Q5_1 || stored == DType::Q8_0);
        const DType format = w.deviceFormat();
        const bool viaMatvec =
            nTokens <= kernels::kMatvecMaxTokens && kernels::hasWeightKernels(int(format), cols);
        // Int8 mat-vec: 1 to 8 tokens with per-block codes, or one token with the row's scale (per-token
        // activations of several tokens take the fake-quantized float path below).
        const bool int8Matvec = viaMatvec && (nTokens == 1 || !perToken) &&
                                (format == DType::Q4_0 || format == DType::Q4_1 || format == DType::Q8_0);
        if (int8Matvec) {
            // x's int8 codes stay in xCodes_ for the next matmul of the same x, or were written there
            // by the op that made x (producedCodes).
            reserveXCodes(cols, nTokens);
            args.scratch = xCodes_.get();
            args.perTokenActivations = perToken;
            args.scratchHoldsX = xCodesSource_ == args.x && xCodesCols_ == cols && xCodesTokens_ == nTokens &&
                                 xCodesPerToken_ == perToken;
            xCodesSource_ = args.x;
            xCodesCols_ = cols;
            xCodesTokens_ = nTokens;
            xCodesPerToken_ = perToken;
        } else if (perToken) {
            float* quantized = static_cast<float*>(scratch(x.size() * sizeof(float), quantizedLease));
            const float* in = args.x;
            launch(signatureOf(LaunchKind::FakeQuantize, in, nTokens, cols, quantized),
                   [=](cudaStream_t s) { kernels::fakeQuantizePerToken(in, nTokens, cols, quantized, s); });
            args.x = quantized;
        }
        if (viaMatvec) {
            uint64_t more = 0;
            for (int i = 0; i < args.moreParts; ++i)
                more = cuda::mixSignature(more, signatureOf(args.more[i].w, args.more[i].rows,
                                                            args.more[i].bias, args.more[i].out));
            launch(signatureOf(LaunchKind::Matvec, args.w, args.dtype, rows, cols, args.x, nTokens,
                               biasData[0], args.out, args.scratch, args.perTokenActivations,
                               args.scratchHoldsX, args.moreParts, more),
                   [args](cudaStream_t s) { kernels::matvec(args, s); });
        } else {
            require(products.size() == 1, "matmul", "several products need the mat-vec path");
            recorder_->flush(); // cuBLAS and pool buffers: not recorded
            gemm(w, args.x, nTokens, args.out);
            if (biasData[0]) kernels::addBias(args.out, biasData[0], nTokens, rows, stream_);
            LATHE_CUDA_CHECK(cudaGetLastError());
        }
        for (const MatmulProduct& p : products)
            if (device(*p.out) == xCodesSource_) forgetQuantizedX();
    }

    // xCodes_ no longer holds the codes of a live x (any op may have written that buffer).
    void forgetQuantizedX() { xCodesSource_ = nullptr; }

    // Where an op whose output `out` is one token's row of `cols` values writes that row as int8 codes
    // (XCodes.cuh), so that a following single-token mat-vec on int8 skips quantizing it; none for
    // several tokens, per-token activations (other codes) or rows that are not whole blocks.
    kernels::XCodes producedCodes(const float* out, int64_t cols, int nTokens) {
        if (nTokens != 1 || cols % 32 != 0 || activationMode_ != ActivationQuantization::PerBlock) return {};
        reserveXCodes(cols, 1);
        xCodesSource_ = out;
        xCodesCols_ = cols;
        xCodesTokens_ = 1;
        xCodesPerToken_ = false;
        return kernels::xCodesIn(xCodes_.get(), cols);
    }

    void reserveXCodes(int64_t cols, int nTokens) {
        const size_t bytes = size_t(kernels::matvecScratchBytes(cols, nTokens));
        if (bytes <= xCodes_.bytes()) return;
        recorder_->flush(); // recorded launches still use the old buffer
        xCodes_ = DeviceArray();
        xCodes_ = DeviceArray(bytes);
        forgetQuantizedX();
    }

    DeviceArray upload(const void* host, size_t bytes) {
        DeviceArray array(std::max<size_t>(bytes, 1));
        LATHE_CUDA_CHECK(cudaMemcpy(array.get(), host, bytes, cudaMemcpyHostToDevice));
        return array;
    }

    // out[t][r] through cuBLAS on tensor cores: fp16/bf16 inputs, fp32 accumulation and output.
    void gemm(const CudaWeight& w, const float* x, int nTokens, float* out) {
        const int64_t cols = w.cols(), rows = w.rows();
        const float one = 1.0f, zero = 0.0f;
        const DType format = w.deviceFormat();
        if (format == DType::F32) {
            LATHE_CUDA_CHECK(blas_.gemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), nTokens, int(cols),
                                          &one, w.data(), CUDA_R_32F, int(cols), x, CUDA_R_32F, int(cols),
                                          &zero, out, CUDA_R_32F, int(rows), CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
            return;
        }
        const bool bf16 = format == DType::BF16;
        const cudaDataType type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
        // Pool buffers go back to the pool when this returns; the next user is on the same stream, so
        // it cannot overwrite them before cuBLAS has read them.
        PoolBuffer xHalf(pool_, size_t(nTokens) * size_t(cols) * 2);
        kernels::convertActivations(x, int64_t(nTokens) * cols, bf16, xHalf.get(), stream_);
        if (format == DType::F16 || bf16) {
            LATHE_CUDA_CHECK(blas_.gemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), nTokens, int(cols),
                                          &one, w.data(), type, int(cols), xHalf.get(), type, int(cols),
                                          &zero, out, CUDA_R_32F, int(rows), CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
            return;
        }
        const int64_t tileRows = std::clamp<int64_t>(kDequantTileBytes / (cols * 2), 1, rows);
        PoolBuffer tile(pool_, size_t(tileRows * cols * 2));
        for (int64_t r0 = 0; r0 < rows; r0 += tileRows) {
            const int64_t n = std::min(tileRows, rows - r0);
            require(kernels::dequantRowsToHalf(w.data(), int(format), cols, r0, n, tile.get(), stream_),
                    "matmul", "no dequantize kernel for the weight format");
            LATHE_CUDA_CHECK(blas_.gemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(n), nTokens, int(cols), &one,
                                          tile.get(), CUDA_R_16F, int(cols), xHalf.get(), CUDA_R_16F,
                                          int(cols), &zero, out + r0, CUDA_R_32F, int(rows),
                                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        }
    }

    // A rope launch's arguments for x, checked (the positions and factors staged for the step).
    kernels::RopeArgs ropeArgs(Activations& x, int nTokens, int nHeads, int headDim,
                               std::span<const int32_t> positions, const RopeParams& params) {
        require(params.nDims > 0 && params.nDims % 2 == 0 && params.nDims <= headDim, "rope",
                "nDims must be even and <= headDim");
        require(int64_t(x.size()) == int64_t(nTokens) * nHeads * headDim, "rope", "input size");
        require(int(positions.size()) == nTokens, "rope", "one position per row");
        require(params.freqFactors.empty() || int(params.freqFactors.size()) == params.nDims / 2, "rope",
                "freqFactors must hold nDims/2 values");
        kernels::RopeArgs args;
        if (nTokens == 0) return args;
        args.x = device(x);
        args.nTokens = nTokens;
        args.nHeads = nHeads;
        args.headDim = headDim;
        args.positions = indices(positions_, positions);
        args.nDims = params.nDims;
        args.freqBase = params.freqBase;
        args.halfSplit = params.style == RopeStyle::HalfSplit;
        args.freqFactors = params.freqFactors.empty()
                               ? nullptr
                               : indices(freqFactors_, std::span<const float>(params.freqFactors));
        return args;
    }

    // Where a KV store writes: the cache bound (and its pending copies on write replayed), the rows'
    // blocks and slots staged. nTokens is 0 when there is nothing to store.
    struct KvStore {
        float* pool = nullptr;
        kernels::PagedKv kv;
        const float *k = nullptr, *v = nullptr;
        int nTokens = 0;
        const int32_t *blockOf = nullptr, *slotInBlock = nullptr;
    };
    KvStore kvStore(const Activations& k, const Activations& v, std::span<const int32_t> seqIds,
                    std::span<const int32_t> slots, int layer, KvCache& cache) {
        const int64_t width = int64_t(cache.nHeadsKv()) * cache.headDim();
        require(seqIds.size() == slots.size(), "storeKv", "one slot per sequence id");
        require(int64_t(k.size()) == int64_t(seqIds.size()) * width && v.size() == k.size(), "storeKv",
                "k/v size is not nTokens x nHeadsKv x headDim");
        require(layer >= 0 && layer < cache.nLayers(), "storeKv", "layer out of range");
        if (cache.instanceId() != boundCacheId_) recorder_->flush(); // binding reallocates the device pool
        bindCache(cache);
        // The cache's own copies (copy on write after a fork) happen in append, before this forward's
        // rows are stored: replaying them first, in order, gives the device the host's block contents.
        const std::vector<std::pair<int, int>> copies = cache.takeBlockCopies();
        if (!copies.empty()) recorder_->flush(); // rare (a fork): not worth a graph of its own
        for (const auto& [from, to] : copies)
            LATHE_CUDA_CHECK(cudaMemcpyAsync(kvPool_.get<float>() + size_t(to) * blockFloats(),
                                             kvPool_.get<float>() + size_t(from) * blockFloats(),
                                             blockFloats() * sizeof(float), cudaMemcpyDeviceToDevice,
                                             stream_));
        KvStore store;
        store.pool = kvPool_.get<float>();
        store.kv = pagedKv();
        if (seqIds.empty()) return store;
        blockOf_.resize(seqIds.size());
        inBlock_.resize(seqIds.size());
        for (size_t t = 0; t < seqIds.size(); ++t) {
            const std::vector<int>& table = cache.blockTable(seqIds[t]);
            require(slots[t] >= 0 && size_t(slots[t] / cache.blockTokens()) < table.size(), "storeKv",
                    "slot was not reserved with KvCache::append");
            blockOf_[t] = table[size_t(slots[t] / cache.blockTokens())];
            inBlock_[t] = slots[t] % cache.blockTokens();
        }
        store.k = device(k);
        store.v = device(v);
        store.nTokens = int(seqIds.size());
        store.blockOf = indices(storeBlocks_, std::span<const int32_t>(blockOf_));
        store.slotInBlock = indices(storeSlots_, std::span<const int32_t>(inBlock_));
        return store;
    }

    kernels::PagedKv pagedKv() const {
        kernels::PagedKv kv;
        kv.pool = kvPool_.get<float>();
        kv.nLayers = kvLayers_;
        kv.nHeadsKv = kvHeads_;
        kv.blockTokens = kvBlockTokens_;
        kv.headDim = kvHeadDim_;
        return kv;
    }

    size_t blockFloats() const { return size_t(kvLayers_) * 2 * kvHeads_ * kvBlockTokens_ * kvHeadDim_; }

    // The device holds the K/V rows of one cache at a time (the host copy stays unwritten); a new cache
    // gets a fresh pool, and one bound before cannot come back, since its rows are gone.
    void bindCache(KvCache& cache) {
        if (cache.instanceId() == boundCacheId_) return;
        if (std::find(retiredCacheIds_.begin(), retiredCacheIds_.end(), cache.instanceId()) !=
            retiredCacheIds_.end())
            fail(ErrorCategory::Internal,
                 "cuda backend: this KV cache's rows were dropped when another cache was bound");
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream_));
        if (boundCacheId_ != 0) retiredCacheIds_.push_back(boundCacheId_);
        boundCacheId_ = cache.instanceId();
        kvBlocks_ = cache.capacityBlocks();
        kvLayers_ = cache.nLayers();
        kvHeads_ = cache.nHeadsKv();
        kvBlockTokens_ = cache.blockTokens();
        kvHeadDim_ = cache.headDim();
        kvPool_ = DeviceArray();
        kvPool_ = DeviceArray(std::max<size_t>(blockFloats() * size_t(kvBlocks_) * sizeof(float), 1));
        cache.setLogsBlockCopies(true);
        cache.takeBlockCopies(); // copies made before binding moved data that was never on the device
    }

    cuda::CudaDeviceInfo device_;
    cuda::DevicePool pool_;
    cudaStream_t stream_ = nullptr;
    const cuda::CublasLibrary& blas_ = cuda::cublasLibrary(); // opened by the first backend
    cublasHandle_t cublas_ = nullptr;
    uint64_t boundCacheId_ = 0;
    std::vector<uint64_t> retiredCacheIds_;
    int kvBlocks_ = 0, kvLayers_ = 0, kvHeads_ = 0, kvBlockTokens_ = 0, kvHeadDim_ = 0;
    DeviceArray kvPool_; // [block][layer][K|V][kvHead][slot][headDim] float
    double readBandwidth_ = 0.0;
    ActivationQuantization activationMode_ = ActivationQuantization::PerBlock;

    // Host-side index arrays and their device copies.
    DeviceMirroredArray<int32_t> tokenIds_, positions_, storeBlocks_, storeSlots_, attnTableOffset_,
        attnTables_, attnPrefix_, attnExtraBegin_, attnExtras_, gatherIds_;
    DeviceMirroredArray<float> freqFactors_;
    std::vector<int32_t> blockOf_, inBlock_, tables_, tableOffset_;
    std::map<int32_t, int32_t> tableStart_;
    DeviceActivations scratchA_, scratchB_, scratchOut_; // for the span ops

    std::unique_ptr<cuda::StepRecorder> recorder_;
    bool graphs_ = true;
    // x quantized to int8 blocks by the last int8 matmul (or an op feeding one), and which x (buffer,
    // width, tokens, mode).
    DeviceArray xCodes_;
    const float* xCodesSource_ = nullptr;
    int64_t xCodesCols_ = 0;
    int xCodesTokens_ = 0;
    bool xCodesPerToken_ = false;
    int lastMatmulTokens_ = 0;
};

} // namespace

CudaGraphStats cudaGraphStats(const Backend& backend) {
    const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
    require(cuda != nullptr, "cudaGraphStats", "not a CUDA backend");
    return cuda->graphStats();
}

std::unique_ptr<Backend> makeCudaBackend(int deviceOrdinal) {
    std::string whyNone;
    const std::vector<cuda::CudaDeviceInfo> devices = cuda::listCudaDevices(&whyNone);
    if (devices.empty())
        fail(ErrorCategory::Device, "device cuda:{} is not available: {}", deviceOrdinal, whyNone);
    for (const cuda::CudaDeviceInfo& device : devices) {
        if (device.ordinal != deviceOrdinal) continue;
        if (const std::string reason = cuda::unusableReason(device); !reason.empty())
            fail(ErrorCategory::Device, "device cuda:{} ({}) is unusable: {}", deviceOrdinal, device.name,
                 reason);
        return std::make_unique<CudaBackend>(device);
    }
    fail(ErrorCategory::Device, "device cuda:{} does not exist ({} CUDA device(s) found)", deviceOrdinal,
         devices.size());
}

} // namespace lathe

#include "backend/cuda/CudaBackend.h"

#include "backend/cuda/CudaCheck.h"
#include "backend/cuda/CudaDevices.h"
#include "backend/cuda/DevicePool.h"
#include "backend/cuda/KvMirror.h"
#include "core/Error.h"
#include "core/Half.h"
#include "io/Quants.h"
#include "kernels/Attention.cuh"
#include "kernels/Dequant.cuh"
#include "kernels/Elementwise.cuh"
#include "kernels/Matvec.cuh"
#include "kernels/Norm.cuh"
#include "kernels/Rope.cuh"
#include "model/KvCache.h"

#include <algorithm>
#include <map>
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
        LATHE_CUDA_CHECK(cublasCreate(&cublas_));
        LATHE_CUDA_CHECK(cublasSetStream(cublas_, stream_));
    }
    ~CudaBackend() override {
        cudaStreamSynchronize(stream_);
        kvPool_ = DeviceArray();
        cublasDestroy(cublas_);
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
            // Vectors become floats; formats without device decoders (K-quants, Q5) become F16 here.
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
        const size_t bytes = size_t(view.rowStride() * uint64_t(rows));
        return std::make_unique<CudaWeight>(view, view.dtype, upload(view.data, bytes));
    }

    void embed(const BackendWeight& table, std::span<const int32_t> tokens, std::span<float> out) override {
        const CudaWeight& w = cudaWeight(table);
        const int64_t cols = w.cols();
        require(int64_t(out.size()) == int64_t(tokens.size()) * cols, "embed", "output size");
        for (int32_t token : tokens)
            if (token < 0 || token >= w.rows())
                fail(ErrorCategory::InvalidArgument,
                     "token id {} is outside the vocabulary of {} tokens ({})", token, w.rows(),
                     w.view().name);
        if (tokens.empty()) return;
        PoolBuffer ids = toDevice(tokens);
        PoolBuffer result(pool_, out.size_bytes());
        require(kernels::gatherRows(w.data(), int(w.deviceFormat()), cols, ids.get<int32_t>(),
                                    int(tokens.size()), result.get<float>(), stream_),
                "embed", "no kernel for the table's format");
        LATHE_CUDA_CHECK(cudaGetLastError());
        toHost(result, out);
    }

    void rmsNorm(std::span<const float> x, const BackendWeight& weight, int nTokens, float eps,
                 std::span<float> out) override {
        const CudaWeight& w = cudaWeight(weight);
        const int64_t dim = w.cols();
        require(w.rows() == 1 && int64_t(x.size()) == nTokens * dim && out.size() == x.size(), "rmsNorm",
                "sizes");
        PoolBuffer dx = toDevice(x);
        kernels::rmsNorm(dx.get<float>(), w.data() ? static_cast<const float*>(w.data()) : nullptr, nTokens,
                         int(dim), eps, dx.get<float>(), stream_);
        LATHE_CUDA_CHECK(cudaGetLastError());
        toHost(dx, out);
    }

    void matmul(const BackendWeight& weight, std::span<const float> x, int nTokens, std::span<float> out,
                const BackendWeight* bias) override {
        const CudaWeight& w = cudaWeight(weight);
        const int64_t cols = w.cols(), rows = w.rows();
        require(int64_t(x.size()) == nTokens * cols, "matmul", "input size is not nTokens x cols");
        require(int64_t(out.size()) == nTokens * rows, "matmul", "output size is not nTokens x rows");
        const float* biasData = nullptr;
        if (bias) {
            const CudaWeight& b = cudaWeight(*bias);
            require(b.rows() == 1 && b.cols() == rows, "matmul", "bias length is not rows");
            biasData = static_cast<const float*>(b.data());
        }
        if (nTokens == 0) return;
        PoolBuffer dx = toDevice(x);
        PoolBuffer dout(pool_, out.size_bytes());
        kernels::MatvecArgs args;
        args.w = w.data();
        args.dtype = int(w.deviceFormat());
        args.rows = rows;
        args.cols = cols;
        args.x = dx.get<float>();
        args.nTokens = nTokens;
        args.bias = biasData;
        args.out = dout.get<float>();
        if (!kernels::matvec(args, stream_)) {
            gemm(w, dx.get<float>(), nTokens, dout.get<float>());
            if (biasData) kernels::addBias(dout.get<float>(), biasData, nTokens, rows, stream_);
        }
        LATHE_CUDA_CHECK(cudaGetLastError());
        toHost(dout, out);
    }

    void rope(std::span<float> x, int nTokens, int nHeads, int headDim, std::span<const int32_t> positions,
              const RopeParams& params) override {
        require(params.nDims > 0 && params.nDims % 2 == 0 && params.nDims <= headDim, "rope",
                "nDims must be even and <= headDim");
        require(int64_t(x.size()) == int64_t(nTokens) * nHeads * headDim, "rope", "input size");
        require(int(positions.size()) == nTokens, "rope", "one position per row");
        require(params.freqFactors.empty() || int(params.freqFactors.size()) == params.nDims / 2, "rope",
                "freqFactors must hold nDims/2 values");
        if (nTokens == 0) return;
        PoolBuffer dx = toDevice(std::span<const float>(x));
        PoolBuffer dpos = toDevice(positions);
        PoolBuffer dfactors;
        if (!params.freqFactors.empty()) dfactors = toDevice(params.freqFactors);
        kernels::RopeArgs args;
        args.x = dx.get<float>();
        args.nTokens = nTokens;
        args.nHeads = nHeads;
        args.headDim = headDim;
        args.positions = dpos.get<int32_t>();
        args.nDims = params.nDims;
        args.freqBase = params.freqBase;
        args.halfSplit = params.style == RopeStyle::HalfSplit;
        args.freqFactors = dfactors.get<float>();
        kernels::rope(args, stream_);
        LATHE_CUDA_CHECK(cudaGetLastError());
        toHost(dx, x);
    }

    void storeKv(std::span<const float> k, std::span<const float> v, std::span<const int32_t> seqIds,
                 std::span<const int32_t> slots, int layer, KvCache& cache) override {
        const int64_t width = int64_t(cache.nHeadsKv()) * cache.headDim();
        require(seqIds.size() == slots.size(), "storeKv", "one slot per sequence id");
        require(int64_t(k.size()) == int64_t(seqIds.size()) * width && v.size() == k.size(), "storeKv",
                "k/v size is not nTokens x nHeadsKv x headDim");
        if (seqIds.empty()) return;
        // The host copy stays complete: it is what the mirror re-reads blocks from.
        for (size_t t = 0; t < seqIds.size(); ++t)
            for (int h = 0; h < cache.nHeadsKv(); ++h) {
                const int64_t offset = int64_t(t) * width + int64_t(h) * cache.headDim();
                std::copy_n(k.data() + offset, cache.headDim(), cache.key(layer, seqIds[t], slots[t], h));
                std::copy_n(v.data() + offset, cache.headDim(), cache.value(layer, seqIds[t], slots[t], h));
            }
        bindCache(cache);
        std::map<int32_t, int> firstSlot;
        for (size_t t = 0; t < seqIds.size(); ++t) {
            auto [it, added] = firstSlot.emplace(seqIds[t], slots[t]);
            if (!added) it->second = std::min(it->second, int(slots[t]));
        }
        for (const auto& [seq, slot] : firstSlot)
            uploadBlocks(cache, mirror_.syncForStore(seq, cache.blockTable(seq), slot, cache.length(seq)));
        std::vector<int32_t> blockOf(seqIds.size());
        std::vector<int32_t> inBlock(seqIds.size());
        for (size_t t = 0; t < seqIds.size(); ++t) {
            blockOf[t] = cache.blockTable(seqIds[t])[size_t(slots[t] / cache.blockTokens())];
            inBlock[t] = slots[t] % cache.blockTokens();
        }
        PoolBuffer dk = toDevice(k), dv = toDevice(v);
        PoolBuffer dBlock = toDevice(std::span<const int32_t>(blockOf));
        PoolBuffer dSlot = toDevice(std::span<const int32_t>(inBlock));
        kernels::storeKv(kvPool_.get<float>(), pagedKv(), layer, dk.get<float>(), dv.get<float>(),
                         int(seqIds.size()), dBlock.get<int32_t>(), dSlot.get<int32_t>(), stream_);
        LATHE_CUDA_CHECK(cudaGetLastError());
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream_)); // the pool buffers above are released next
    }

    void attention(std::span<const float> q, const AttentionShape& shape, const AttentionMask& mask,
                   const KvCache& cache, int layer, std::span<float> out) override {
        const int nTokens = mask.size();
        require(shape.nHeadsKv > 0 && shape.nHeads % shape.nHeadsKv == 0, "attention", "nHeads % nHeadsKv");
        require(shape.nHeadsKv == cache.nHeadsKv() && shape.headDim == cache.headDim(), "attention",
                "shape differs from the cache's");
        require(int64_t(q.size()) == int64_t(nTokens) * shape.nHeads * shape.headDim &&
                    out.size() == q.size(),
                "attention", "q/out size");
        require(int(mask.prefix.size()) == nTokens && int(mask.extraBegin.size()) == nTokens + 1 &&
                    int(mask.extras.size()) == mask.extraBegin.back(),
                "attention", "mask arrays");
        if (nTokens == 0) return;
        bindCache(cache);
        std::map<int32_t, int32_t> tableStart;
        std::vector<int32_t> tables, tableOffset(static_cast<size_t>(nTokens));
        int maxVisible = 0;
        for (int t = 0; t < nTokens; ++t) {
            const int32_t seq = mask.seqIds[size_t(t)];
            require(mask.prefix[size_t(t)] <= cache.length(seq), "attention",
                    "mask reaches past the cached tokens");
            auto [it, added] = tableStart.emplace(seq, int32_t(tables.size()));
            if (added) {
                const std::vector<int>& table = cache.blockTable(seq);
                uploadBlocks(cache, mirror_.syncForRead(seq, table, cache.length(seq)));
                tables.insert(tables.end(), table.begin(), table.end());
            }
            tableOffset[size_t(t)] = it->second;
            maxVisible = std::max(maxVisible, mask.prefix[size_t(t)] + mask.extraBegin[size_t(t) + 1] -
                                                  mask.extraBegin[size_t(t)]);
        }
        if (tables.empty()) tables.push_back(0);
        std::vector<int32_t> extras = mask.extras;
        if (extras.empty()) extras.push_back(0);
        PoolBuffer dq = toDevice(q), dTables = toDevice(std::span<const int32_t>(tables));
        PoolBuffer dOffset = toDevice(std::span<const int32_t>(tableOffset));
        PoolBuffer dPrefix = toDevice(std::span<const int32_t>(mask.prefix));
        PoolBuffer dBegin = toDevice(std::span<const int32_t>(mask.extraBegin));
        PoolBuffer dExtras = toDevice(std::span<const int32_t>(extras));
        PoolBuffer dout(pool_, out.size_bytes());
        PoolBuffer workspace(pool_, size_t(kernels::attentionWorkspaceFloats(nTokens, shape.nHeads,
                                                                             shape.headDim, maxVisible)) *
                                        sizeof(float));
        kernels::AttentionArgs args;
        args.q = dq.get<float>();
        args.out = dout.get<float>();
        args.nTokens = nTokens;
        args.nHeads = shape.nHeads;
        args.scale = shape.scale;
        args.kv = pagedKv();
        args.layer = layer;
        args.tableOffset = dOffset.get<int32_t>();
        args.blockTables = dTables.get<int32_t>();
        args.prefix = dPrefix.get<int32_t>();
        args.extraBegin = dBegin.get<int32_t>();
        args.extras = dExtras.get<int32_t>();
        args.maxVisible = maxVisible;
        args.workspace = workspace.get<float>();
        if (!kernels::pagedAttention(args, stream_))
            fail(ErrorCategory::Unsupported,
                 "cuda backend: head size {} has no attention kernel (multiples of 32 "
                 "up to 256 do)",
                 shape.headDim);
        LATHE_CUDA_CHECK(cudaGetLastError());
        toHost(dout, out);
    }

    void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out) override {
        require(gate.size() == up.size() && out.size() == up.size(), "swiglu", "sizes differ");
        if (out.empty()) return;
        PoolBuffer dg = toDevice(gate), du = toDevice(up);
        kernels::swiglu(dg.get<float>(), du.get<float>(), int64_t(out.size()), dg.get<float>(), stream_);
        LATHE_CUDA_CHECK(cudaGetLastError());
        toHost(dg, out);
    }

    void add(std::span<const float> a, std::span<const float> b, std::span<float> out) override {
        require(a.size() == b.size() && out.size() == a.size(), "add", "sizes differ");
        if (out.empty()) return;
        PoolBuffer da = toDevice(a), db = toDevice(b);
        kernels::add(da.get<float>(), db.get<float>(), int64_t(out.size()), da.get<float>(), stream_);
        LATHE_CUDA_CHECK(cudaGetLastError());
        toHost(da, out);
    }

private:
    DeviceArray upload(const void* host, size_t bytes) {
        DeviceArray array(std::max<size_t>(bytes, 1));
        LATHE_CUDA_CHECK(cudaMemcpy(array.get(), host, bytes, cudaMemcpyHostToDevice));
        return array;
    }

    template <typename T> PoolBuffer toDevice(std::span<const T> host) {
        PoolBuffer buffer(pool_, std::max<size_t>(host.size_bytes(), 1));
        LATHE_CUDA_CHECK(
            cudaMemcpyAsync(buffer.get(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice, stream_));
        return buffer;
    }
    template <typename T> PoolBuffer toDevice(std::span<T> host) {
        return toDevice(std::span<const T>(host));
    }

    // Copies the result back and waits, so every pool buffer of the op may be reused when it returns.
    void toHost(const PoolBuffer& device, std::span<float> host) {
        LATHE_CUDA_CHECK(
            cudaMemcpyAsync(host.data(), device.get(), host.size_bytes(), cudaMemcpyDeviceToHost, stream_));
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    // out[t][r] through cuBLAS on tensor cores: fp16/bf16 inputs, fp32 accumulation and output.
    void gemm(const CudaWeight& w, const float* x, int nTokens, float* out) {
        const int64_t cols = w.cols(), rows = w.rows();
        const float one = 1.0f, zero = 0.0f;
        const DType format = w.deviceFormat();
        if (format == DType::F32) {
            LATHE_CUDA_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), nTokens, int(cols),
                                          &one, w.data(), CUDA_R_32F, int(cols), x, CUDA_R_32F, int(cols),
                                          &zero, out, CUDA_R_32F, int(rows), CUBLAS_COMPUTE_32F,
                                          CUBLAS_GEMM_DEFAULT));
            return;
        }
        const bool bf16 = format == DType::BF16;
        const cudaDataType type = bf16 ? CUDA_R_16BF : CUDA_R_16F;
        PoolBuffer xHalf(pool_, size_t(nTokens) * size_t(cols) * 2);
        kernels::convertActivations(x, int64_t(nTokens) * cols, bf16, xHalf.get(), stream_);
        if (format == DType::F16 || bf16) {
            LATHE_CUDA_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), nTokens, int(cols),
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
            LATHE_CUDA_CHECK(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, int(n), nTokens, int(cols), &one,
                                          tile.get(), CUDA_R_16F, int(cols), xHalf.get(), CUDA_R_16F,
                                          int(cols), &zero, out + r0, CUDA_R_32F, int(rows),
                                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        }
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

    // (Re)allocates the device pool when a different or resized cache arrives; the mirror restarts.
    void bindCache(const KvCache& cache) {
        if (&cache == boundCache_ && cache.capacityBlocks() == kvBlocks_ && cache.nLayers() == kvLayers_)
            return;
        LATHE_CUDA_CHECK(cudaStreamSynchronize(stream_));
        boundCache_ = &cache;
        kvBlocks_ = cache.capacityBlocks();
        kvLayers_ = cache.nLayers();
        kvHeads_ = cache.nHeadsKv();
        kvBlockTokens_ = cache.blockTokens();
        kvHeadDim_ = cache.headDim();
        kvPool_ = DeviceArray();
        kvPool_ = DeviceArray(std::max<size_t>(blockFloats() * size_t(kvBlocks_) * sizeof(float), 1));
        mirror_.clear();
    }

    // A block of all layers is contiguous on both sides ([block][layer][K|V][head][slot][dim]).
    void uploadBlocks(const KvCache& cache, const std::vector<int>& blocks) {
        for (int block : blocks)
            LATHE_CUDA_CHECK(cudaMemcpyAsync(kvPool_.get<float>() + size_t(block) * blockFloats(),
                                             cache.blockKeys(0, block, 0), blockFloats() * sizeof(float),
                                             cudaMemcpyHostToDevice, stream_));
    }

    cuda::CudaDeviceInfo device_;
    cuda::DevicePool pool_;
    cudaStream_t stream_ = nullptr;
    cublasHandle_t cublas_ = nullptr;
    const KvCache* boundCache_ = nullptr;
    int kvBlocks_ = 0, kvLayers_ = 0, kvHeads_ = 0, kvBlockTokens_ = 0, kvHeadDim_ = 0;
    DeviceArray kvPool_; // [block][layer][K|V][kvHead][slot][headDim] float
    cuda::KvMirror mirror_;
};

} // namespace

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

#pragma once
// A GGUF model as the compression steps see it: the seven matrices of each transformer block and the
// two norms that feed them as floats a step may change, everything else (embeddings, output head,
// final norm, tokenizer, metadata) as stored. Steps that need calibration run the model as it stands
// (currentFiles() feeds a Transformer), so each step sees what the previous steps left. write() turns
// it into a GGUF file: quantized matrices in their grid's block format, other changed matrices in a
// storage format, untouched tensors copied byte for byte.

#include "compress/QuantGrid.h"
#include "core/Cancel.h"
#include "core/DType.h"
#include "core/Progress.h"
#include "io/GgufReader.h"
#include "io/ModelFiles.h"

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lathe {

enum class BlockMatrix { AttnQ, AttnK, AttnV, AttnOutput, FfnGate, FfnUp, FfnDown };
inline constexpr std::array<BlockMatrix, 7> kBlockMatrices = {
    BlockMatrix::AttnQ,   BlockMatrix::AttnK, BlockMatrix::AttnV,  BlockMatrix::AttnOutput,
    BlockMatrix::FfnGate, BlockMatrix::FfnUp, BlockMatrix::FfnDown};
std::string_view blockMatrixName(BlockMatrix which); // "attn_q", ..., "ffn_down"

struct FloatMatrix {
    int64_t rows = 0, cols = 0; // rows: outputs, cols: inputs (y = W x)
    std::vector<float> values;  // [rows][cols]
};

// Every row of a stored matrix as floats: rows of `cols` values of `format`, `rowStride` bytes apart.
FloatMatrix decodeMatrix(DType format, const uint8_t* data, uint64_t rowStride, int64_t rows, int64_t cols);
inline FloatMatrix decodeMatrix(const TensorView& t) {
    return decodeMatrix(t.dtype, t.data, t.rowStride(), t.rowCount(), t.rowLength());
}

struct WriteCounts {
    int64_t changedTensors = 0, keptTensors = 0;
    int64_t blockWeights = 0, zeroBlockWeights = 0; // over the block matrices, as written
};

class EditableModel {
public:
    // Opens a GGUF model (lathe::Error naming what is wrong).
    explicit EditableModel(const std::filesystem::path& path);
    ~EditableModel();

    const ModelConfig& config() const { return config_; }
    const ModelFiles& sourceFiles() const { return *source_; }
    const std::filesystem::path& path() const { return path_; }

    // The matrix as floats (dequantized from the file on first use); a step may change the values but
    // not the shape (use setFfn for that).
    FloatMatrix& matrix(int layer, BlockMatrix which);
    // attn_norm (ffn = false) or ffn_norm weights as floats.
    std::vector<float>& norm(int layer, bool ffn);
    // Feed-forward width of a layer (after structured pruning it differs per layer).
    int ffWidth(int layer) const;
    // Replaces a layer's FFN by one of another width: gate/up [ff][nEmbd], down [nEmbd][ff].
    void setFfn(int layer, FloatMatrix gate, FloatMatrix up, FloatMatrix down);
    // Replaces a layer's attention by one with other head counts: q [nHeads·headDim][nEmbd], k and v
    // [nHeadsKv·headDim][nEmbd], o [nEmbd][nHeads·headDim]; biases (models with a Q/K/V bias) sized as
    // the rows, else empty. Every layer must end with the same counts before currentFiles() or write()
    // (a GGUF llama model has one head_count); config() follows once they all agree.
    void setAttention(int layer, int nHeads, int nHeadsKv, FloatMatrix q, FloatMatrix k, FloatMatrix v,
                      FloatMatrix o, std::vector<float> bq = {}, std::vector<float> bk = {},
                      std::vector<float> bv = {});
    // The count of a layer's heads as the model stands (after head pruning they differ from the file's
    // until every layer agrees). Sets them without touching the matrices: a step that slices the
    // matrices with keepStored calls it to say what the slices hold.
    void setHeadCounts(int layer, int nHeads, int nHeadsKv);
    // Encodes the layer's changed float matrices in `storage` (the format write() would give them) and
    // frees the floats: a pruning step calls it for each layer it finishes, so a model is never held
    // whole in floats. The encoding stays editable (matrix() decodes it), and the written file is the
    // same byte for byte. Matrices whose rows are not whole blocks of `storage` stay in floats.
    void compact(int layer, DType storage);
    // The stored tensor of a matrix no step has touched yet, or null.
    const TensorView* untouched(int layer, BlockMatrix which) const;
    // Replaces an untouched matrix by a slice of its stored bytes, bit for bit: the rows in rowRanges,
    // and of each row the columns in columnRanges, each range [begin, end) in order. Column ranges must
    // hold whole blocks of the stored format. The slice stays editable: matrix() decodes it.
    using Ranges = std::vector<std::pair<int64_t, int64_t>>;
    void keepStored(int layer, BlockMatrix which, const Ranges& rowRanges, const Ranges& columnRanges);

    // A 1-D tensor of the file as floats (dequantized on first use; a step may change the values), or
    // null when the model has no such tensor (e.g. "blk.0.attn_q.bias" of a model without biases).
    std::vector<float>* vector(const std::string& tensorName);
    // Fixes how a matrix is stored: it is kept encoded in its grid's block format (the float copy is
    // freed, so a model is never held whole in floats) and runs as stored from then on.
    void setQuantized(int layer, BlockMatrix which, QuantizedMatrix quantized);
    bool isQuantized(int layer, BlockMatrix which) const;
    // Extra metadata for the written file (e.g. lathe.activation_quantization for W8A8).
    void setMetadata(const std::string& key, GgufValue value);
    // The metadata value of the written file for `key` (set here, else the source's), or null.
    const GgufValue* metadata(const std::string& key) const;

    // The model as it stands, for a Transformer; valid until the next change.
    ModelFiles currentFiles();

    // Writes the GGUF atomically (nothing is left behind on failure or cancel). storage: the format of
    // changed matrices without a grid (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
    WriteCounts write(const std::filesystem::path& output, DType storage, const ProgressFn& progress = {},
                      const CancelToken& cancel = {}) const;

private:
    struct Encoded {
        DType format = DType::F32;
        int64_t rows = 0, cols = 0;
        std::vector<uint8_t> bytes; // rows of `format`
    };
    struct Edit {
        std::optional<FloatMatrix> values; // changed, not yet encoded
        std::optional<Encoded> encoded;    // quantized, or a slice of the stored bytes (keepStored)
        bool slice = false;                // encoded is a slice, which later steps may still change
    };
    std::string tensorName(int layer, BlockMatrix which) const;
    std::string normName(int layer, bool ffn) const;
    const Edit* findEdit(const std::string& name) const;
    bool headsChanged() const;
    void replaceValues(const std::string& name, FloatMatrix values); // drops any encoded form
    void requireUniformHeads(const char* what) const;

    std::filesystem::path path_;
    GgufFile gguf_;
    std::unique_ptr<ModelFiles> source_;
    ModelConfig config_;
    std::vector<int> ffWidths_;                         // [nLayers]
    std::vector<std::pair<int, int>> headCounts_;       // [nLayers] (nHeads, nHeadsKv)
    std::map<std::string, Edit> matrices_;              // changed block matrices by tensor name
    std::map<std::string, std::vector<float>> vectors_; // changed 1-D tensors (norms, biases) by name
    std::vector<std::pair<std::string, GgufValue>> extraMetadata_;
};

} // namespace lathe

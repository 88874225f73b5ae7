// Crafted bad GGUF files: each must be refused with a lathe::Error naming the problem — never a
// crash, a hang, a huge allocation or another exception type.

#include "IoTestFiles.h"
#include "core/Error.h"
#include "io/GgufReader.h"
#include "io/GgufWriter.h"
#include "io/ModelLoader.h"

#include <QtTest>
#include <limits>

using namespace lathe;
using test::Bytes;

namespace {

// Returns the message of the lathe::Error that parsing throws; fails the test on success or on any
// other exception type.
std::string parseError(const std::vector<uint8_t>& bytes) {
    try {
        (void)GgufFile::fromBytes(bytes, "bad.gguf");
    } catch (const Error& e) {
        return e.what();
    } catch (const std::exception& e) {
        return std::string("WRONG EXCEPTION TYPE: ") + e.what();
    }
    return "NO ERROR";
}

#define EXPECT_REFUSED(bytes, needle)                                                                        \
    do {                                                                                                     \
        const std::string message = parseError(bytes);                                                       \
        if (message.find(needle) == std::string::npos)                                                       \
            QFAIL(qPrintable(                                                                                \
                QString("expected an error containing '%1', got: %2").arg(needle).arg(message.c_str())));    \
    } while (0)

// Header with the given counts, then the caller appends kvs and tensor infos.
Bytes header(uint64_t nTensors, uint64_t nKv, uint32_t version = 3) {
    Bytes b;
    // Room reserved first: growing the empty vector here set off GCC 12 -Wstringop-overflow and
    // -overread false positives (copies of its zero old bytes).
    b.data.reserve(4096);
    b.raw("GGUF").u32(version).u64(nTensors).u64(nKv);
    return b;
}

// One tensor info; the data section follows after padding (call finish()).
Bytes& tensorInfo(Bytes& b, const std::string& name, std::vector<uint64_t> dims, uint32_t type,
                  uint64_t offset) {
    b.str(name).u32(uint32_t(dims.size()));
    for (uint64_t d : dims)
        b.u64(d);
    return b.u32(type).u64(offset);
}

std::vector<uint8_t> finish(Bytes b, size_t dataBytes, size_t alignment = 32) {
    b.padTo(alignment);
    b.zeros(dataBytes);
    return b.data;
}

std::vector<uint8_t> smallValidFile() {
    GgufWriter w;
    w.setString("general.architecture", "llama");
    w.setBool("flag", true);
    w.setStringArray("list", {"x", "yz"});
    w.setU32("n", 7);
    // Sizes that are multiples of 32, so the file ends exactly at the last tensor byte.
    w.addTensor("a", DType::F32, {8}, std::vector<uint8_t>(32, 1));
    w.addTensor("b", DType::Q8_0, {32, 2}, std::vector<uint8_t>(68, 2)); // 68 -> padded to 96
    w.addTensor("c", DType::F16, {16}, std::vector<uint8_t>(32, 3));
    return w.writeToBytes();
}

} // namespace

class TestGgufHostile : public QObject {
    Q_OBJECT
private slots:
    void validBaselineParses() {
        const auto bytes = smallValidFile();
        const GgufFile f = GgufFile::fromBytes(bytes);
        QCOMPARE(f.tensors().size(), size_t(3));
        QCOMPARE(uint64_t(f.tensors()[2].data + 32 - bytes.data()), uint64_t(bytes.size()));
    }

    void everyTruncationIsRefused() {
        const auto bytes = smallValidFile();
        for (size_t n = 0; n < bytes.size(); ++n) {
            const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + long(n));
            const std::string message = parseError(prefix);
            if (message == "NO ERROR" || message.rfind("WRONG", 0) == 0)
                QFAIL(qPrintable(QString("prefix of %1 bytes: %2").arg(n).arg(message.c_str())));
        }
    }

    void badMagicAndVersion() {
        auto bytes = smallValidFile();
        bytes[0] = 'F';
        EXPECT_REFUSED(bytes, "not a GGUF file");
        EXPECT_REFUSED(finish(header(0, 0, 1), 0), "version 1");
        EXPECT_REFUSED(finish(header(0, 0, 0), 0), "version 0");
        EXPECT_REFUSED(finish(header(0, 0, 4), 0), "version 4");
        EXPECT_REFUSED(std::vector<uint8_t>({'G', 'G'}), "not a GGUF file");
    }

    void overflowingCounts() {
        EXPECT_REFUSED(finish(header(std::numeric_limits<uint64_t>::max(), 0), 0), "tensor count");
        EXPECT_REFUSED(finish(header(1ull << 60, 0), 0), "tensor count");
        EXPECT_REFUSED(finish(header(0, std::numeric_limits<uint64_t>::max()), 0), "key/value count");
        EXPECT_REFUSED(finish(header(0, 1ull << 59), 64), "key/value count");
    }

    void hugeStringLengths() {
        Bytes b = header(0, 1);
        b.u64(std::numeric_limits<uint64_t>::max()).raw("key");
        EXPECT_REFUSED(finish(b, 0), "key #0");
        Bytes v = header(0, 1);
        v.str("k").u32(8).u64(1ull << 62).raw("abc");
        EXPECT_REFUSED(finish(v, 0), "string of key 'k'");
        Bytes t = header(1, 0);
        t.u64(std::numeric_limits<uint64_t>::max() - 3);
        EXPECT_REFUSED(finish(t, 64), "name of tensor #0");
        // A string length that only an int32 cast would make look small.
        Bytes s = header(0, 1);
        s.str("k").u32(8).u64(0x100000004ull).raw("abcd");
        EXPECT_REFUSED(finish(s, 0), "string of key 'k'");
    }

    void hugeArrayCounts() {
        Bytes b = header(0, 1);
        b.str("arr").u32(9).u32(4).u64(1ull << 61);
        EXPECT_REFUSED(finish(b, 64), "array count of key 'arr'");
        Bytes s = header(0, 1);
        s.str("arr").u32(9).u32(8).u64(1ull << 40);
        EXPECT_REFUSED(finish(s, 64), "array count of key 'arr'");
        Bytes n = header(0, 1);
        n.str("nested").u32(9).u32(9).u64(1).u32(4).u64(1).u32(5);
        EXPECT_REFUSED(finish(n, 0), "array of arrays");
    }

    void badValueTypesAndBools() {
        Bytes t = header(0, 1);
        t.str("k").u32(13).u32(0);
        EXPECT_REFUSED(finish(t, 0), "unknown value type 13");
        Bytes e = header(0, 1);
        e.str("k").u32(9).u32(77).u64(0);
        EXPECT_REFUSED(finish(e, 0), "unknown value type 77");
        Bytes b = header(0, 1);
        b.str("flag").u32(7).put(uint8_t(2));
        EXPECT_REFUSED(finish(b, 0), "must be 0 or 1");
        Bytes a = header(0, 1);
        a.str("flags").u32(9).u32(7).u64(3).put(uint8_t(1)).put(uint8_t(0)).put(uint8_t(9));
        EXPECT_REFUSED(finish(a, 0), "must be 0 or 1");
    }

    void duplicateKeysAndNames() {
        Bytes k = header(0, 2);
        k.str("n").u32(4).u32(1).str("n").u32(4).u32(2);
        EXPECT_REFUSED(finish(k, 0), "key 'n' appears twice");
        Bytes t = header(2, 0);
        tensorInfo(t, "w", {8}, 0, 0);
        tensorInfo(t, "w", {8}, 0, 32);
        EXPECT_REFUSED(finish(t, 64), "tensor 'w' appears twice");
        Bytes empty = header(0, 1);
        empty.str("").u32(4).u32(1);
        EXPECT_REFUSED(finish(empty, 0), "key #0 is empty");
    }

    void badDimensions() {
        Bytes five = header(1, 0);
        tensorInfo(five, "w", {1, 1, 1, 1, 1}, 0, 0);
        EXPECT_REFUSED(finish(five, 32), "n_dims is 5");
        Bytes none = header(1, 0);
        tensorInfo(none, "w", {}, 0, 0);
        EXPECT_REFUSED(finish(none, 32), "n_dims is 0");
        Bytes zero = header(1, 0);
        tensorInfo(zero, "w", {4, 0}, 0, 0);
        EXPECT_REFUSED(finish(zero, 32), "dimension 1 is 0");
        Bytes overflow = header(1, 0);
        tensorInfo(overflow, "w", {1ull << 32, 1ull << 32, 1ull << 32}, 0, 0);
        EXPECT_REFUSED(finish(overflow, 32), "overflows");
        Bytes negative = header(1, 0);
        tensorInfo(negative, "w", {1ull << 63}, 0, 0);
        EXPECT_REFUSED(finish(negative, 32), "dimension 0");
        Bytes sizeOverflow = header(1, 0); // 2^62 bytes: representable, far past the end
        tensorInfo(sizeOverflow, "w", {1ull << 30, 1ull << 30, 1}, 0, 0);
        EXPECT_REFUSED(finish(sizeOverflow, 32), "past the end of the file");
        Bytes bytesOverflow = header(1, 0);
        tensorInfo(bytesOverflow, "w", {1ull << 31, 1ull << 31, 1}, 28, 0); // 2^62 f64 elements: 2^65 bytes
        EXPECT_REFUSED(finish(bytesOverflow, 32), "overflows");
    }

    void badTypes() {
        Bytes unknown = header(1, 0);
        tensorInfo(unknown, "w", {32}, 99, 0);
        EXPECT_REFUSED(finish(unknown, 64), "tensor type 99");
        Bytes iq = header(1, 0);
        tensorInfo(iq, "w", {256}, 16, 0); // IQ2_XXS: a real type Lathe does not read
        EXPECT_REFUSED(finish(iq, 256), "tensor type 16");
        Bytes block = header(1, 0);
        tensorInfo(block, "w", {33, 2}, 2, 0); // Q4_0 rows must be multiples of 32
        EXPECT_REFUSED(finish(block, 64), "not a multiple of the q4_0 block size 32");
    }

    void badAlignment() {
        for (uint32_t a : {0u, 3u, 48u, 1u << 31}) {
            Bytes b = header(0, 1);
            b.str("general.alignment").u32(4).u32(a);
            EXPECT_REFUSED(finish(b, 0), "general.alignment is");
        }
        Bytes wrongType = header(0, 1);
        wrongType.str("general.alignment").u32(10).u64(32);
        EXPECT_REFUSED(finish(wrongType, 0), "must be u32");
    }

    void badOffsets() {
        Bytes misaligned = header(1, 0);
        tensorInfo(misaligned, "w", {8}, 0, 4);
        EXPECT_REFUSED(finish(misaligned, 64), "offset 4 is not a multiple of the alignment 32");
        Bytes overlap = header(2, 0);
        tensorInfo(overlap, "a", {16}, 0, 0);
        tensorInfo(overlap, "b", {8}, 0, 32); // a covers 0..64
        EXPECT_REFUSED(finish(overlap, 128), "overlaps");
        Bytes same = header(2, 0);
        tensorInfo(same, "a", {8}, 0, 0);
        tensorInfo(same, "b", {8}, 0, 0);
        EXPECT_REFUSED(finish(same, 64), "overlaps");
        Bytes outside = header(1, 0);
        tensorInfo(outside, "w", {1024}, 0, 0);
        EXPECT_REFUSED(finish(outside, 64), "tensor 'w': offset");
        Bytes farOffset = header(1, 0);
        tensorInfo(farOffset, "w", {8}, 0, std::numeric_limits<uint64_t>::max() - 31);
        EXPECT_REFUSED(finish(farOffset, 64), "past the end of the file");
        Bytes noData = header(1, 0);
        tensorInfo(noData, "w", {8}, 0, 0);
        EXPECT_REFUSED(noData.data, "past the end of the file");
    }

    void errorMessageNamesTheTensorAndSizes() {
        Bytes b = header(1, 0);
        tensorInfo(b, "blk.0.attn_q.weight", {1024}, 0, 0);
        const auto bytes = finish(b, 2048 - 96);
        const std::string message = parseError(bytes);
        QVERIFY2(message.find(
                     "bad.gguf: tensor 'blk.0.attn_q.weight': offset 96 + 4096 bytes is past the end of the "
                     "file (2048 bytes)") != std::string::npos,
                 message.c_str());
    }

    void wrongElementTypeForTokenizerArrays() {
        GgufWriter w;
        w.setString("tokenizer.ggml.model", "gpt2");
        w.setI32Array("tokenizer.ggml.tokens", {1, 2, 3});
        auto bytes = w.writeToBytes();
        GgufFile f = GgufFile::fromBytes(bytes);
        QVERIFY_THROWS_EXCEPTION(Error, tokenizerSpecFromGguf(f));

        GgufWriter s;
        s.setString("tokenizer.ggml.model", "gpt2");
        s.setStringArray("tokenizer.ggml.tokens", {"a", "b"});
        s.setStringArray("tokenizer.ggml.token_type", {"1", "1"});
        bytes = s.writeToBytes();
        QVERIFY_THROWS_EXCEPTION(Error, tokenizerSpecFromGguf(GgufFile::fromBytes(bytes)));

        GgufWriter n;
        n.setString("tokenizer.ggml.model", "gpt2");
        n.setStringArray("tokenizer.ggml.tokens", {"a", "b"});
        n.setI32Array("tokenizer.ggml.token_type", {1, 99});
        bytes = n.writeToBytes();
        QVERIFY_THROWS_EXCEPTION(Error, tokenizerSpecFromGguf(GgufFile::fromBytes(bytes)));

        GgufWriter id;
        id.setString("tokenizer.ggml.model", "gpt2");
        id.setStringArray("tokenizer.ggml.tokens", {"a", "b"});
        id.setU32("tokenizer.ggml.eos_token_id", 2);
        bytes = id.writeToBytes();
        QVERIFY_THROWS_EXCEPTION(Error, tokenizerSpecFromGguf(GgufFile::fromBytes(bytes)));
    }

    void randomByteFlipsNeverCrash() {
        // Cheap in-test fuzzing: flip bytes of the valid file; parsing either succeeds or throws Error.
        const auto valid = smallValidFile();
        std::mt19937 rng(1234);
        for (int round = 0; round < 3000; ++round) {
            auto bytes = valid;
            const int flips = 1 + int(rng() % 4);
            for (int i = 0; i < flips; ++i)
                bytes[rng() % bytes.size()] = uint8_t(rng());
            const std::string message = parseError(bytes);
            if (message.rfind("WRONG", 0) == 0) QFAIL(message.c_str());
        }
    }
};

QTEST_APPLESS_MAIN(TestGgufHostile)
#include "TestGgufHostile.moc"

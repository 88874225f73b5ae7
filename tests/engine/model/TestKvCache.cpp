#include "core/Error.h"
#include "model/KvCache.h"

#include <QtTest>

using namespace lathe;

namespace {

ModelConfig tinyConfig() {
    ModelConfig c;
    c.nLayers = 2;
    c.nHeadsKv = 2;
    c.headDim = 3;
    return c;
}

// A value that names its place, so a read shows exactly which write it sees.
float tag(int layer, int slot, int head, int d, bool isValue) {
    return float(layer * 10000 + slot * 100 + head * 10 + d) + (isValue ? 0.5f : 0.0f);
}

void writeSlot(KvCache& cache, int32_t seq, int slot, float offset = 0.0f) {
    for (int l = 0; l < cache.nLayers(); ++l)
        for (int h = 0; h < cache.nHeadsKv(); ++h)
            for (int d = 0; d < cache.headDim(); ++d) {
                cache.key(l, seq, slot, h)[d] = tag(l, slot, h, d, false) + offset;
                cache.value(l, seq, slot, h)[d] = tag(l, slot, h, d, true) + offset;
            }
}

bool slotHolds(const KvCache& cache, int32_t seq, int slot, float offset = 0.0f) {
    for (int l = 0; l < cache.nLayers(); ++l)
        for (int h = 0; h < cache.nHeadsKv(); ++h)
            for (int d = 0; d < cache.headDim(); ++d)
                if (cache.key(l, seq, slot, h)[d] != tag(l, slot, h, d, false) + offset ||
                    cache.value(l, seq, slot, h)[d] != tag(l, slot, h, d, true) + offset)
                    return false;
    return true;
}

void appendWritten(KvCache& cache, int32_t seq, int count, float offset = 0.0f) {
    const int first = cache.append(seq, count);
    for (int s = first; s < first + count; ++s)
        writeSlot(cache, seq, s, offset);
}

// This process's resident memory (VmRSS), in bytes.
qint64 residentBytes() {
    QFile status("/proc/self/status");
    if (!status.open(QIODevice::ReadOnly)) return -1;
    for (const QByteArray& line : status.readAll().split('\n'))
        if (line.startsWith("VmRSS:")) return line.mid(6).trimmed().split(' ').first().toLongLong() * 1024;
    return -1;
}

} // namespace

class TestKvCache : public QObject {
    Q_OBJECT
private slots:
    // A cache sized for a long context takes memory only for the tokens it holds: SmolLM2-135M's shape
    // at 32k tokens is 1.4 GiB of slots, and 64 cached tokens write 2.9 MiB of them.
    void residentMemoryFollowsTheTokensCached() {
        ModelConfig c;
        c.nLayers = 30;
        c.nHeadsKv = 3;
        c.headDim = 64;
        const qint64 before = residentBytes();
        if (before < 0) QSKIP("no /proc/self/status");
        KvCache cache(c, 32768);
        appendWritten(cache, 0, 64);
        QVERIFY(slotHolds(cache, 0, 63));
        const qint64 grown = residentBytes() - before;
        const qint64 capacityBytes = qint64(32768) * 30 * 2 * 3 * 64 * 4;
        qInfo("resident memory grew %.1f MiB for a %.0f MiB cache holding 64 tokens", double(grown) / 1048576,
              double(capacityBytes) / 1048576);
        QVERIFY2(grown < 64LL * 1048576, qPrintable(QString("grew %1 bytes").arg(grown)));
    }

    void appendAllocatesWholeBlocks() {
        KvCache cache(tinyConfig(), 10, 4); // rounds up to 3 blocks
        QCOMPARE(cache.capacityBlocks(), 3);
        QCOMPARE(cache.freeBlocks(), 3);
        QCOMPARE(cache.append(0, 3), 0);
        QCOMPARE(cache.length(0), 3);
        QCOMPARE(cache.freeBlocks(), 2);
        QCOMPARE(cache.append(0, 2), 3);
        QCOMPARE(int(cache.blockTable(0).size()), 2);
        QCOMPARE(cache.freeBlocks(), 1);
        QCOMPARE(cache.length(7), 0);
        QVERIFY(!cache.hasSequence(7));
    }

    void slotsKeepTheirValues() {
        KvCache cache(tinyConfig(), 16, 4);
        appendWritten(cache, 0, 6);
        appendWritten(cache, 1, 5, 0.25f);
        for (int s = 0; s < 6; ++s)
            QVERIFY(slotHolds(cache, 0, s));
        for (int s = 0; s < 5; ++s)
            QVERIFY(slotHolds(cache, 1, s, 0.25f));
        // Keys and values of one head are contiguous per block: blockKeys agrees with key().
        const int block = cache.blockTable(0)[1];
        QCOMPARE(cache.blockKeys(1, block, 1) + 1 * cache.headDim(), cache.key(1, 0, 5, 1));
        QCOMPARE(cache.blockValues(0, block, 0), cache.value(0, 0, 4, 0));
    }

    void forkSharesBlocks() {
        KvCache cache(tinyConfig(), 32, 4);
        appendWritten(cache, 0, 6);
        const int freeBefore = cache.freeBlocks();
        cache.fork(0, 1);
        QCOMPARE(cache.freeBlocks(), freeBefore);
        QCOMPARE(cache.blockTable(1), cache.blockTable(0));
        for (int block : cache.blockTable(0))
            QCOMPARE(cache.blockRefCount(block), 2);
        QCOMPARE(cache.length(1), 6);
        for (int s = 0; s < 6; ++s)
            QVERIFY(slotHolds(cache, 1, s));
    }

    void writeIntoSharedBlockCopiesIt() {
        KvCache cache(tinyConfig(), 32, 4);
        appendWritten(cache, 0, 6); // blocks: [0..3] full, [4..5] partial
        cache.fork(0, 1);
        const int sharedLast = cache.blockTable(0)[1];
        appendWritten(cache, 1, 1, 0.75f); // slot 6 of the child goes into the partial shared block
        QVERIFY(cache.blockTable(1)[1] != sharedLast);
        QCOMPARE(cache.blockTable(1)[0], cache.blockTable(0)[0]); // full blocks stay shared
        QCOMPARE(cache.blockRefCount(sharedLast), 1);
        QCOMPARE(cache.blockRefCount(cache.blockTable(0)[0]), 2);
        for (int s = 0; s < 6; ++s)
            QVERIFY(slotHolds(cache, 1, s)); // copied
        QVERIFY(slotHolds(cache, 1, 6, 0.75f));
        // The parent is intact and can grow on its own.
        QCOMPARE(cache.length(0), 6);
        for (int s = 0; s < 6; ++s)
            QVERIFY(slotHolds(cache, 0, s));
        appendWritten(cache, 0, 1, 0.5f);
        QVERIFY(slotHolds(cache, 0, 6, 0.5f));
        QVERIFY(slotHolds(cache, 1, 6, 0.75f));
    }

    void truncateFreesBlocks() {
        KvCache cache(tinyConfig(), 32, 4);
        appendWritten(cache, 0, 10); // 3 blocks
        QCOMPARE(cache.freeBlocks(), 5);
        cache.truncate(0, 5); // 2 blocks
        QCOMPARE(cache.length(0), 5);
        QCOMPARE(cache.freeBlocks(), 6);
        cache.truncate(0, 0);
        QCOMPARE(cache.freeBlocks(), 8);
        QVERIFY_THROWS_EXCEPTION(Error, cache.truncate(0, 1));
        // A truncated fork frees nothing its parent still holds.
        appendWritten(cache, 2, 8);
        cache.fork(2, 3);
        cache.truncate(3, 3);
        QCOMPARE(cache.blockRefCount(cache.blockTable(2)[1]), 1);
        QCOMPARE(cache.blockRefCount(cache.blockTable(2)[0]), 2);
        appendWritten(cache, 3, 2, 0.125f); // rewrites slots 3 and 4 after a copy of block 0
        QVERIFY(slotHolds(cache, 2, 3));
        QVERIFY(slotHolds(cache, 3, 3, 0.125f));
    }

    void fullCacheThrowsAndChangesNothing() {
        KvCache cache(tinyConfig(), 8, 4);
        appendWritten(cache, 0, 6);
        cache.fork(0, 1);
        try {
            cache.append(1, 1); // needs a copy of the shared partial block, and none is free
            QFAIL("expected a full-cache error");
        } catch (const Error& e) {
            QCOMPARE(e.category(), ErrorCategory::InvalidArgument);
            QVERIFY2(QString(e.what()).contains("full"), e.what());
        }
        QCOMPARE(cache.length(1), 6);
        QCOMPARE(cache.blockTable(1), cache.blockTable(0));
        QVERIFY_THROWS_EXCEPTION(Error, cache.append(0, 1)); // the parent's last block is shared as well
        cache.removeSequence(1);
        QCOMPARE(cache.append(0, 2), 6); // now it is the parent's alone: no copy needed
        QCOMPARE(cache.freeBlocks(), 0);
    }

    void removeAndClearReturnBlocks() {
        KvCache cache(tinyConfig(), 16, 4);
        appendWritten(cache, 0, 5);
        cache.fork(0, 1);
        cache.removeSequence(0);
        QVERIFY(!cache.hasSequence(0));
        QCOMPARE(cache.freeBlocks(), 2);
        for (int s = 0; s < 5; ++s)
            QVERIFY(slotHolds(cache, 1, s));
        cache.removeSequence(1);
        QCOMPARE(cache.freeBlocks(), 4);
        appendWritten(cache, 4, 9);
        cache.clear();
        QCOMPARE(cache.freeBlocks(), 4);
        QVERIFY(!cache.hasSequence(4));
    }

    // What a device backend replays: the copies made by copy on write, in order, only while asked for,
    // and the host copy of the data untouched until something reads or writes it.
    void logsItsOwnBlockCopies() {
        KvCache cache(tinyConfig(), 64, 4);
        cache.append(1, 6);
        cache.fork(1, 2);
        cache.append(2, 1); // copy on write, not logged yet
        QVERIFY(cache.takeBlockCopies().empty());
        cache.setLogsBlockCopies(true);
        cache.fork(2, 3);
        const int shared = cache.blockTable(3)[1];
        cache.append(3, 1);
        const int copy = cache.blockTable(3)[1];
        QVERIFY(copy != shared);
        const auto copies = cache.takeBlockCopies();
        QCOMPARE(copies.size(), size_t(1));
        QCOMPARE(copies[0], std::make_pair(shared, copy));
        QVERIFY(cache.takeBlockCopies().empty());
        cache.append(3, 1); // the block is its own now: no copy
        QVERIFY(cache.takeBlockCopies().empty());
        QVERIFY(KvCache(tinyConfig(), 64, 4).instanceId() != cache.instanceId());
    }

    void rejectsBadArguments() {
        QVERIFY_THROWS_EXCEPTION(Error, KvCache(tinyConfig(), 0, 4));
        QVERIFY_THROWS_EXCEPTION(Error, KvCache(tinyConfig(), 8, 0));
        KvCache cache(tinyConfig(), 8, 4);
        QVERIFY_THROWS_EXCEPTION(Error, cache.blockTable(3));
        appendWritten(cache, 0, 2);
        QVERIFY_THROWS_EXCEPTION(Error, cache.key(0, 0, 2, 0)); // past the length
    }
};

QTEST_APPLESS_MAIN(TestKvCache)
#include "TestKvCache.moc"

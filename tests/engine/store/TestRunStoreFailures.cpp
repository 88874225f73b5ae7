// A full disk and a read-only database: the store throws a clear lathe::Error (Io), this process goes
// on, and every row committed before the failure is still there. Uses a small tmpfs where this process
// may mount one (root in a container); otherwise PRAGMA max_page_count stands in for the full disk.

#include "TestSupport.h"
#include "core/Error.h"
#include "store/RunStore.h"

#include <QtTest>
#include <sys/mount.h>
#include <unistd.h>

using namespace lathe;

namespace {

// A tmpfs of `size` mounted on a fresh folder, unmounted when the object dies.
class TinyTmpfs {
public:
    explicit TinyTmpfs(const std::filesystem::path& where, const char* size) : path_(where) {
        std::filesystem::create_directories(where);
        const std::string options = std::string("size=") + size;
        mounted_ = mount("tmpfs", where.c_str(), "tmpfs", 0, options.c_str()) == 0;
    }
    ~TinyTmpfs() {
        if (mounted_) umount2(path_.c_str(), MNT_DETACH);
    }
    bool mounted() const { return mounted_; }
    bool setReadOnly(bool readOnly) {
        return mount(nullptr, path_.c_str(), nullptr, MS_REMOUNT | (readOnly ? MS_RDONLY : 0), nullptr) == 0;
    }

private:
    std::filesystem::path path_;
    bool mounted_ = false;
};

Error captureError(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e;
    }
    return Error(ErrorCategory::Internal, "no error thrown");
}

// Appends batches of samples until the store refuses; returns the samples committed.
int64_t fillUntilFull(RunStore& store, int64_t run, Error& failure) {
    int64_t committed = 0;
    std::vector<RunSample> batch;
    for (int i = 0; i < 500; ++i)
        batch.push_back({"padding.series.with.a.long.name", double(i), 1.0 * i});
    for (int round = 0; round < 100000; ++round) {
        try {
            store.appendSamples(run, batch);
            committed += int64_t(batch.size());
        } catch (const Error& e) {
            failure = e;
            return committed;
        }
    }
    return committed;
}

} // namespace

class TestRunStoreFailures : public QObject {
    Q_OBJECT
private slots:
    void fullDiskGivesIoErrorAndKeepsCommittedRows() {
        test::TempDir dir;
        TinyTmpfs disk(dir.file("disk"), "400k");
        std::filesystem::path path;
        RunStoreOptions options;
        if (disk.mounted()) {
            path = dir.file("disk") / "lathe.db";
        } else {
            qInfo("cannot mount a tmpfs here: simulating the full disk with PRAGMA max_page_count");
            path = dir.file("lathe.db");
            options.maxPageCount = 100;
        }
        auto store = RunStore::open(path, options);
        const int64_t chat = store->createChat("before the disk filled");
        const int64_t message = store->addMessage(chat, "user", "keep me");
        const int64_t run = store->beginRun(RunKind::Bench, std::nullopt, {{"threads", 2}}, {});
        Error failure(ErrorCategory::Internal, "no error thrown");
        const int64_t committed = fillUntilFull(*store, run, failure);
        QVERIFY(committed > 0);
        QCOMPARE(failure.category(), ErrorCategory::Io);
        const std::string message1 = failure.what();
        QVERIFY2(message1.find("full") != std::string::npos, message1.c_str());
        QVERIFY2(message1.find(path.string()) != std::string::npos, message1.c_str());

        // Still running, still readable, nothing committed lost.
        QCOMPARE(store->countSamples(run, ""), committed);
        QCOMPARE(store->messages(chat).at(0).id, message);
        QCOMPARE(store->getRun(run)->config.at("threads").get<int>(), 2);
        store.reset();
        auto reopened = RunStore::open(path, options);
        QCOMPARE(reopened->countSamples(run, ""), committed);
        QCOMPARE(reopened->messages(chat).at(0).content, std::string("keep me"));
    }

    void readOnlyDatabaseGivesIoErrorAndKeepsRows() {
        test::TempDir dir;
        TinyTmpfs disk(dir.file("disk"), "4m");
        if (!disk.mounted() && geteuid() == 0)
            QSKIP("root ignores file permissions and no tmpfs can be mounted here to make a read-only file "
                  "system");
        const auto folder = disk.mounted() ? dir.file("disk") : dir.file("plain");
        const auto path = folder / "lathe.db";
        int64_t chat = 0;
        {
            auto store = RunStore::open(path);
            chat = store->createChat("written before");
            store->addMessage(chat, "user", "still here");
        }
        if (disk.mounted())
            QVERIFY(disk.setReadOnly(true));
        else
            std::filesystem::permissions(folder, std::filesystem::perms::owner_read |
                                                     std::filesystem::perms::owner_exec);

        // Either the store opens for reading (and refuses writes) or it refuses to open; both with Io.
        std::unique_ptr<RunStore> store;
        const Error openError = captureError([&] { store = RunStore::open(path); });
        if (store) {
            QVERIFY(store->isReadOnly());
            QCOMPARE(store->messages(chat).at(0).content, std::string("still here"));
            const Error writeError = captureError([&] { store->createChat("refused"); });
            QCOMPARE(writeError.category(), ErrorCategory::Io);
            QVERIFY2(std::string(writeError.what()).find("read-only") != std::string::npos,
                     writeError.what());
            store.reset();
        } else {
            QCOMPARE(openError.category(), ErrorCategory::Io);
            QVERIFY2(std::string(openError.what()).find(path.string()) != std::string::npos,
                     openError.what());
        }

        if (disk.mounted())
            QVERIFY(disk.setReadOnly(false));
        else
            std::filesystem::permissions(folder, std::filesystem::perms::owner_all);
        auto writable = RunStore::open(path);
        QCOMPARE(writable->messages(chat).at(0).content, std::string("still here"));
        QVERIFY(writable->createChat("after") > chat);
    }
};

QTEST_APPLESS_MAIN(TestRunStoreFailures)
#include "TestRunStoreFailures.moc"

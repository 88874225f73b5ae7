// The run store under SIGKILL and under concurrent writers. A child (lathe_store_writer) writes runs,
// samples and chat messages and prints each commit; it is killed at random moments over 100 times.
// After each kill: integrity_check is ok, everything the child reported is there, and opening the
// store marks the cut-off run 'interrupted'.

#include "TestSupport.h"
#include "store/RunStore.h"

#include <QtTest>
#include <SQLiteCpp/Database.h>
#include <map>
#include <random>
#include <set>
#include <signal.h>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace lathe;

namespace {

struct Child {
    pid_t pid = -1;
    int out = -1; // read end of its stdout
};

Child spawnWriter(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) qFatal("pipe failed");
    const pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        std::vector<char*> argv;
        std::string exe = LATHE_STORE_WRITER;
        argv.push_back(exe.data());
        std::vector<std::string> copy = args;
        for (std::string& a : copy)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(exe.c_str(), argv.data());
        _exit(127);
    }
    close(fds[1]);
    return {pid, fds[0]};
}

std::string readAll(int fd) {
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof buffer)) > 0;)
        text.append(buffer, size_t(n));
    close(fd);
    return text;
}

// What a child reported as committed.
struct Reported {
    std::set<int64_t> runs, doneRuns, chats;
    std::map<int64_t, int64_t> samples;       // run -> samples committed
    std::map<int64_t, size_t> messageLengths; // message -> content length committed
};

void parseReport(const std::string& text, Reported& r) {
    std::istringstream in(text);
    std::string word;
    int64_t id = 0, value = 0;
    while (in >> word >> id) {
        if (word == "run")
            r.runs.insert(id);
        else if (word == "done")
            r.doneRuns.insert(id);
        else if (word == "chat")
            r.chats.insert(id);
        else if (word == "samples" && in >> value)
            r.samples[id] = value;
        else if (word == "message" && in >> value)
            r.messageLengths[id] = size_t(value);
        else if (word == "metric" && in >> value)
            continue;
    }
}

} // namespace

class TestRunStoreCrash : public QObject {
    Q_OBJECT
private slots:
    void survivesSigkillAtRandomMoments() {
        test::TempDir dir;
        const auto path = dir.file("lathe.db");
        std::mt19937 random(20240607);
        std::uniform_int_distribution<int> delayMs(1, 120);
        Reported all;
        constexpr int kKills = 110;
        int cutOffRuns = 0;
        for (int kill = 0; kill < kKills; ++kill) {
            Child child = spawnWriter({path.string(), "forever"});
            std::this_thread::sleep_for(std::chrono::milliseconds(delayMs(random)));
            ::kill(child.pid, SIGKILL);
            const std::string output = readAll(child.out);
            int status = 0;
            waitpid(child.pid, &status, 0);
            QVERIFY2(WIFSIGNALED(status), "the writer exited on its own (an error?)");
            Reported now;
            parseReport(output, now);
            parseReport(output, all);

            {
                SQLite::Database raw(path.string(), SQLite::OPEN_READONLY);
                QCOMPARE(raw.execAndGet("PRAGMA integrity_check").getString(), std::string("ok"));
            }
            auto store = RunStore::open(path);
            // The run the kill cut off (reported started, not reported done) is no longer 'running'.
            for (int64_t run : now.runs) {
                if (now.doneRuns.count(run)) continue;
                const auto record = store->getRun(run);
                QVERIFY(record);
                // The finish may have committed just before the kill, without being reported.
                QVERIFY2(record->status == RunStatus::Interrupted || record->status == RunStatus::Done,
                         runStatusName(record->status));
                if (record->status == RunStatus::Interrupted) ++cutOffRuns;
            }
            QCOMPARE(store->countRuns(
                         {RunKind::Bench, std::nullopt, RunStatus::Running, std::nullopt, std::nullopt}),
                     int64_t(0));
            // Everything ever reported is still there (later kills did not lose earlier commits).
            for (int64_t run : all.runs)
                QVERIFY(store->getRun(run));
            for (int64_t run : all.doneRuns)
                QCOMPARE(store->getRun(run)->status, RunStatus::Done);
            for (int64_t chat : all.chats)
                QVERIFY(store->getChat(chat));
            for (const auto& [run, count] : all.samples)
                QVERIFY(store->countSamples(run, "rss") >= count);
            if (kill % 10 == 9 || kill == kKills - 1) {
                // Message content check by chat (messages are read per chat).
                std::map<int64_t, std::string> contents;
                for (int64_t chat : all.chats)
                    for (const MessageRecord& m : store->messages(chat))
                        contents[m.id] = m.content;
                for (const auto& [message, length] : all.messageLengths) {
                    QVERIFY(contents.count(message));
                    QVERIFY(contents[message].size() >= length);
                }
            }
        }
        qInfo("%d kills, %zu runs reported, %zu finished, %d cut off and marked interrupted", kKills,
              all.runs.size(), all.doneRuns.size(), cutOffRuns);
        QVERIFY(cutOffRuns > 0);
        QVERIFY(!all.doneRuns.empty());
    }

    void concurrentWritersNeverSeeLocked() {
        test::TempDir dir;
        const auto path = dir.file("lathe.db");
        constexpr int kRounds = 40;
        Child a = spawnWriter({path.string(), "count", std::to_string(kRounds)});
        Child b = spawnWriter({path.string(), "count", std::to_string(kRounds)});
        // This process writes at the same time: a chat streamed reply, updated in a tight loop.
        auto store = RunStore::open(path);
        const int64_t chat = store->createChat("parent");
        const int64_t message = store->addMessage(chat, "assistant", "", {}, false);
        std::string content;
        for (int i = 0; i < 200; ++i) {
            content += "x";
            store->updateMessage(message, content, {}, false);
        }
        const std::string outA = readAll(a.out), outB = readAll(b.out);
        int statusA = 0, statusB = 0;
        waitpid(a.pid, &statusA, 0);
        waitpid(b.pid, &statusB, 0);
        QVERIFY(WIFEXITED(statusA) && WEXITSTATUS(statusA) == 0);
        QVERIFY(WIFEXITED(statusB) && WEXITSTATUS(statusB) == 0);
        Reported r;
        parseReport(outA, r);
        parseReport(outB, r);
        QCOMPARE(r.doneRuns.size(), size_t(2 * kRounds));
        QCOMPARE(store->countRuns({}), int64_t(2 * kRounds));
        RunFilter done;
        done.status = RunStatus::Done;
        QCOMPARE(store->countRuns(done), int64_t(2 * kRounds));
        QCOMPARE(store->messages(chat).at(0).content, content);
    }
};

QTEST_APPLESS_MAIN(TestRunStoreCrash)
#include "TestRunStoreCrash.moc"

// ServerConfig: memory units, file and flag parsing with errors naming the line or flag,
// CONFIG GET globs, CONFIG SET atomicity and errors, CONFIG REWRITE, the replication
// parameters, and the admission rule (maxclients, protected mode).
#include "server/config.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/server.h"

namespace mirrorkv::server {
namespace {

using ::testing::HasSubstr;

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char name[] = "/tmp/mkvsrv-config-XXXXXX";
    int fd = mkstemp(name);
    close(fd);
    path_ = name;
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }
  std::string Read() const {
    std::ifstream in(path_);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
  }

 private:
  std::string path_;
};

TEST(ConfigTest, ParsesMemoryUnitsLikeRedis) {
  uint64_t bytes;
  ASSERT_TRUE(ParseMemory("100", &bytes));
  EXPECT_EQ(bytes, 100u);
  ASSERT_TRUE(ParseMemory("1k", &bytes));
  EXPECT_EQ(bytes, 1000u);
  ASSERT_TRUE(ParseMemory("1kb", &bytes));
  EXPECT_EQ(bytes, 1024u);
  ASSERT_TRUE(ParseMemory("100mb", &bytes));
  EXPECT_EQ(bytes, 100u << 20);
  ASSERT_TRUE(ParseMemory("2GB", &bytes));
  EXPECT_EQ(bytes, 2ull << 30);
  EXPECT_FALSE(ParseMemory("", &bytes));
  EXPECT_FALSE(ParseMemory("-1", &bytes));
  EXPECT_FALSE(ParseMemory("10xb", &bytes));
  EXPECT_FALSE(ParseMemory("99999999999999999999gb", &bytes));
}

TEST(ConfigTest, DefaultsRunInMemoryOnLoopback) {
  Result<ServerConfig> config = LoadConfig("", {});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->port, 6379);
  EXPECT_EQ(config->bind, std::vector<std::string>{"127.0.0.1"});
  EXPECT_TRUE(config->save.empty());
  EXPECT_EQ(config->maxclients, 10000);
  EXPECT_EQ(config->proto_max_bulk_len, 512ll << 20);
  EXPECT_EQ(config->client_query_buffer_limit, 1ll << 30);
  EXPECT_EQ(config->dir[0], '/');
}

TEST(ConfigTest, FileThenFlags) {
  TempFile file(
      "# a comment\n"
      "port 7000\n"
      "maxmemory 100mb\n"
      "maxmemory-policy allkeys-lru\n"
      "save 900 1\n"
      "save 300 10\n"
      "requirepass \"with space\"\n"
      "rdbcompression yes\n");
  Result<ServerConfig> config = LoadConfig(file.path(), {"--port", "7001", "--save", "60", "5"});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->port, 7001);
  EXPECT_EQ(config->maxmemory, 100u << 20);
  EXPECT_EQ(config->maxmemory_policy, EvictionPolicy::kAllKeysLru);
  // The first save line replaces the (empty) default; later ones, from the file or the
  // command line, add to it, as in Redis.
  EXPECT_EQ(config->save, (std::vector<SavePoint>{{900, 1}, {300, 10}, {60, 5}}));
  EXPECT_EQ(config->requirepass, "with space");
  EXPECT_EQ(config->config_file[0], '/');
  Result<ServerConfig> none = LoadConfig(file.path(), {"--save", ""});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->save, (std::vector<SavePoint>{{900, 1}, {300, 10}}));
}

TEST(ConfigTest, ErrorsNameTheLineOrFlag) {
  TempFile file("port 7000\n\nport abc\n");
  Result<ServerConfig> config = LoadConfig(file.path(), {});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("at line 3"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(">>> 'port abc'"));
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("argument couldn't be parsed into an integer"));

  TempFile unknown("frobnicate yes\n");
  config = LoadConfig(unknown.path(), {});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("Bad directive or wrong number of arguments"));

  config = LoadConfig("", {"--maxmemory", "lots"});
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("at flag '--maxmemory lots'"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("memory value"));

  EXPECT_FALSE(LoadConfig("", {"--port"}).ok());
  EXPECT_FALSE(LoadConfig("", {"stray"}).ok());
  EXPECT_FALSE(LoadConfig("", {"--appendonly", "yes"}).ok());
  EXPECT_FALSE(LoadConfig("", {"--maxmemory-policy", "allkeys-lfu"}).ok());
  EXPECT_FALSE(LoadConfig("", {"--dir", "/nonexistent/dir"}).ok());
  EXPECT_FALSE(LoadConfig("/nonexistent/file.conf", {}).ok());
  TempFile quotes("requirepass \"unterminated\n");
  EXPECT_FALSE(LoadConfig(quotes.path(), {}).ok());
}

TEST(ConfigTest, ConfigGetMatchesGlobs) {
  ServerConfig config;
  auto pairs = ConfigGet(config, {"maxmemory*"});
  std::vector<std::string> names;
  for (const auto& [name, value] : pairs) names.push_back(name);
  EXPECT_THAT(
      names, ::testing::UnorderedElementsAre("maxmemory", "maxmemory-policy", "maxmemory-samples"));
  EXPECT_EQ(ConfigGet(config, {"SAVE"}).at(0), (std::pair<std::string, std::string>{"save", ""}));
  EXPECT_EQ(ConfigGet(config, {"appendonly", "appendonly"}).size(), 1u);
  EXPECT_TRUE(ConfigGet(config, {"nothing"}).empty());
}

TEST(ConfigTest, ConfigSetIsAllOrNothing) {
  ServerConfig config;
  Status status = ConfigSet(config, {"timeout", "5", "maxmemory", "abc"}, /*loopback_client=*/true);
  EXPECT_EQ(status.message(),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be "
            "a memory value");
  EXPECT_EQ(config.timeout, 0);
  EXPECT_EQ(ConfigSet(config, {"nope", "1"}, /*loopback_client=*/true).message(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nope'");
  EXPECT_THAT(std::string(ConfigSet(config, {"port", "1"}, /*loopback_client=*/true).message()),
              HasSubstr("can't set immutable config"));
  ASSERT_TRUE(
      ConfigSet(config, {"timeout", "5", "save", "60 10 300 1"}, /*loopback_client=*/true).ok());
  EXPECT_EQ(config.timeout, 5);
  EXPECT_EQ(ConfigValue(config, "save"), "60 10 300 1");
}

TEST(ConfigTest, RewriteKeepsCommentsAndUnknownOrder) {
  TempFile file("# keep me\nport 7000\nmaxmemory 1mb\nmaxmemory 2mb\nrdbcompression no\n");
  Result<ServerConfig> config = LoadConfig(file.path(), {});
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE(ConfigSet(*config, {"maxmemory", "3mb", "timeout", "7", "requirepass", "a b"},
                        /*loopback_client=*/true)
                  .ok());
  ASSERT_TRUE(ConfigRewrite(*config).ok());
  std::string text = file.Read();
  EXPECT_EQ(text,
            "# keep me\nport 7000\nmaxmemory 3145728\nrdbcompression no\n"
            "# Generated by CONFIG REWRITE\nrequirepass \"a b\"\ndir " +
                config->dir + "\ntimeout 7\n");
  Result<ServerConfig> reread = LoadConfig(file.path(), {});
  ASSERT_TRUE(reread.ok()) << reread.status().ToString();
  EXPECT_EQ(reread->maxmemory, 3u << 20);
  EXPECT_EQ(reread->requirepass, "a b");
  EXPECT_EQ(reread->timeout, 7);

  ServerConfig no_file;
  EXPECT_EQ(ConfigRewrite(no_file).message(), "ERR The server is running without a config file");
}

TEST(ConfigTest, ReplicationParameters) {
  Result<ServerConfig> config =
      LoadConfig("", {"--slaveof", "10.0.0.1", "6380", "--repl-backlog-size", "2mb",
                      "--min-slaves-to-write", "1", "--replica-priority", "0"});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->replicaof_host, "10.0.0.1");
  EXPECT_EQ(config->replicaof_port, 6380);
  EXPECT_EQ(config->repl_backlog_size, 2 << 20);
  EXPECT_EQ(config->min_replicas_to_write, 1);
  EXPECT_EQ(config->replica_priority, 0);
  EXPECT_EQ(ConfigValue(*config, "replicaof"), "10.0.0.1 6380");

  Result<ServerConfig> none = LoadConfig("", {"--replicaof", "no", "one"});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->replicaof_host.empty());
  EXPECT_FALSE(LoadConfig("", {"--replicaof", "h", "99999"}).ok());
  EXPECT_FALSE(LoadConfig("", {"--replicaof", "h"}).ok());
  EXPECT_FALSE(LoadConfig("", {"--repl-backlog-size", "1k"}).ok());

  // REPLICAOF changes the role at run time, not CONFIG SET (as in Redis).
  EXPECT_THAT(ConfigSet(*config, {"replicaof", "h 1"}, /*loopback_client=*/true).message(),
              HasSubstr("can't set immutable config"));
  ASSERT_TRUE(
      ConfigSet(*config, {"slave-priority", "5", "masterauth", "pw"}, /*loopback_client=*/true)
          .ok());
  EXPECT_EQ(config->replica_priority, 5);
}

// Sentinel rewrites the file after SLAVEOF: the replicaof line follows the role, and a
// server that follows no one has none.
TEST(ConfigTest, RewriteRecordsTheReplicaofLine) {
  TempFile file("# keep me\nslaveof 127.0.0.1 7000\nport 7001\n");
  Result<ServerConfig> config = LoadConfig(file.path(), {});
  ASSERT_TRUE(config.ok());
  config->replicaof_host.clear();
  ASSERT_TRUE(ConfigRewrite(*config).ok());
  EXPECT_EQ(file.Read(),
            "# keep me\nport 7001\n# Generated by CONFIG REWRITE\ndir " + config->dir + "\n");
  config->replicaof_host = "127.0.0.1";
  config->replicaof_port = 7002;
  ASSERT_TRUE(ConfigRewrite(*config).ok());
  Result<ServerConfig> reread = LoadConfig(file.path(), {});
  ASSERT_TRUE(reread.ok());
  EXPECT_EQ(reread->replicaof_port, 7002);
  EXPECT_THAT(file.Read(), HasSubstr("\nreplicaof 127.0.0.1 7002\n"));
}

// dir and dbfilename choose the file SAVE writes: at run time only where
// enable-protected-configs allows (never by default), as in Redis 7.
TEST(ConfigTest, ProtectedConfigsAreRefusedAtRunTime) {
  Result<ServerConfig> config = LoadConfig("", {});
  ASSERT_TRUE(config.ok());
  for (const char* name : {"dir", "dbfilename", "DIR"}) {
    EXPECT_EQ(ConfigSet(*config, {name, "/tmp"}, /*loopback_client=*/true).message(),
              absl::StrCat("ERR CONFIG SET failed (possibly related to argument '", name,
                           "') - can't set protected config"));
  }
  EXPECT_EQ(config->dbfilename, "dump.mkv");
  EXPECT_THAT(std::string(ConfigSet(*config, {"enable-protected-configs", "yes"}, true).message()),
              HasSubstr("can't set immutable config"));

  Result<ServerConfig> local = LoadConfig("", {"--enable-protected-configs", "local"});
  ASSERT_TRUE(local.ok());
  EXPECT_THAT(std::string(ConfigSet(*local, {"dbfilename", "x.mkv"}, false).message()),
              HasSubstr("can't set protected config"));
  ASSERT_TRUE(ConfigSet(*local, {"dbfilename", "x.mkv"}, true).ok());
  EXPECT_EQ(local->dbfilename, "x.mkv");

  Result<ServerConfig> open = LoadConfig("", {"--enable-protected-configs", "yes"});
  ASSERT_TRUE(open.ok());
  ASSERT_TRUE(ConfigSet(*open, {"dbfilename", "y.mkv"}, false).ok());
  EXPECT_FALSE(LoadConfig("", {"--enable-protected-configs", "maybe"}).ok());
}

// Values Redis checks (yes/no, numbers, enums, the buffer-limit classes) are checked here
// too, even for parameters mirrorkv only keeps as text: nothing else can be smuggled in.
TEST(ConfigTest, KeptAsTextParametersAreChecked) {
  Result<ServerConfig> config = LoadConfig("", {});
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(
      std::string(
          ConfigSet(*config, {"rdbcompression", "yes\nreplicaof 10.9.9.9 6379"}, true).message()),
      HasSubstr("argument must be 'yes' or 'no'"));
  EXPECT_THAT(std::string(ConfigSet(*config, {"appendfsync", "sometimes"}, true).message()),
              HasSubstr("argument(s) must be one of the following: always, everysec, no"));
  EXPECT_THAT(std::string(ConfigSet(*config, {"repl-timeout", "soon"}, true).message()),
              HasSubstr("argument couldn't be parsed into an integer"));
  EXPECT_THAT(std::string(ConfigSet(*config, {"notify-keyspace-events", "KEA\n"}, true).message()),
              HasSubstr("Invalid event class character"));
  EXPECT_THAT(
      std::string(
          ConfigSet(*config, {"client-output-buffer-limit", "normal 0 0 0\nrequirepass x"}, true)
              .message()),
      HasSubstr("buffer limit configuration"));
  EXPECT_THAT(
      std::string(
          ConfigSet(*config, {"client-output-buffer-limit", "admin 1 1 1"}, true).message()),
      HasSubstr("Invalid client class"));

  // A change names some classes; the others keep their values. Units are kept as bytes.
  ASSERT_TRUE(ConfigSet(*config, {"client-output-buffer-limit", "normal 64mb 32mb 10"}, true).ok());
  EXPECT_EQ(ConfigValue(*config, "client-output-buffer-limit"),
            "normal 67108864 33554432 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
  ASSERT_TRUE(
      ConfigSet(*config, {"rdbcompression", "NO", "auto-aof-rewrite-min-size", "1kb"}, true).ok());
  EXPECT_EQ(ConfigValue(*config, "rdbcompression"), "no");
  EXPECT_EQ(ConfigValue(*config, "auto-aof-rewrite-min-size"), "1024");
}

// CONFIG REWRITE quotes every word of every line, so a value with a newline, a quote or a
// control byte loads back as that value and never as a second directive.
TEST(ConfigTest, RewriteCannotBeMadeToWriteAnotherDirective) {
  TempFile file("port 7000\n");
  Result<ServerConfig> config = LoadConfig(file.path(), {});
  ASSERT_TRUE(config.ok());
  const std::string evil = "x\nrequirepass hacked\r\n\"replicaof 10.9.9.9 6379\x01";
  ASSERT_TRUE(ConfigSet(*config, {"masterauth", evil, "syslog-ident", evil}, true).ok());
  config->replicaof_host = "h\nrequirepass hacked";  // REPLICAOF takes any host word
  config->replicaof_port = 7001;
  ASSERT_TRUE(ConfigRewrite(*config).ok());
  std::string text = file.Read();
  EXPECT_THAT(text, ::testing::Not(HasSubstr("\nrequirepass")));
  Result<ServerConfig> reread = LoadConfig(file.path(), {});
  ASSERT_TRUE(reread.ok()) << reread.status().ToString() << "\n" << text;
  EXPECT_EQ(reread->masterauth, evil);
  EXPECT_EQ(ConfigValue(*reread, "syslog-ident"), evil);
  EXPECT_EQ(reread->requirepass, "");
  EXPECT_EQ(reread->replicaof_host, "h\nrequirepass hacked");
  EXPECT_EQ(reread->replicaof_port, 7001);
}

// Command-line arguments become config lines as redis-server makes them.
TEST(ConfigTest, FlagsParseAsRedisParsesThem) {
  Result<ServerConfig> one_word = LoadConfig("", {"--replicaof", "127.0.0.1 6379"});
  ASSERT_TRUE(one_word.ok()) << one_word.status().ToString();
  EXPECT_EQ(one_word->replicaof_host, "127.0.0.1");
  EXPECT_EQ(one_word->replicaof_port, 6379);

  Result<ServerConfig> joined = LoadConfig("", {"--port 7005", "--bind", "127.0.0.1 ::1"});
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ(joined->port, 7005);
  EXPECT_EQ(joined->bind, (std::vector<std::string>{"127.0.0.1", "::1"}));

  // A name alone takes the next argument as its value, dashes and all.
  Result<ServerConfig> dashes = LoadConfig("", {"--requirepass", "--secret", "--port", "7006"});
  ASSERT_TRUE(dashes.ok()) << dashes.status().ToString();
  EXPECT_EQ(dashes->requirepass, "--secret");
  EXPECT_EQ(dashes->port, 7006);

  Result<ServerConfig> save = LoadConfig("", {"--save", "--port", "7007"});
  ASSERT_TRUE(save.ok()) << save.status().ToString();
  EXPECT_TRUE(save->save.empty());

  Result<ServerConfig> stray = LoadConfig("", {"6379"});
  ASSERT_FALSE(stray.ok());
  EXPECT_THAT(std::string(stray.status().message()), HasSubstr("Unexpected argument '6379'"));
  EXPECT_FALSE(LoadConfig("", {"--port \"7000"}).ok());
}

TEST(AdmissionTest, MaxClientsAndProtectedMode) {
  EXPECT_TRUE(AdmissionRefusal(0, 10, true, false, true).empty());
  EXPECT_EQ(AdmissionRefusal(10, 10, true, false, true), "-ERR max number of clients reached\r\n");
  std::string_view denied = AdmissionRefusal(0, 10, true, false, false);
  EXPECT_THAT(std::string(denied), HasSubstr("-DENIED Redis is running in protected mode"));
  EXPECT_TRUE(denied.ends_with("from the outside.\r\n"));
  EXPECT_TRUE(AdmissionRefusal(0, 10, true, true, false).empty());    // a password is set
  EXPECT_TRUE(AdmissionRefusal(0, 10, false, false, false).empty());  // protected-mode no
}

}  // namespace
}  // namespace mirrorkv::server

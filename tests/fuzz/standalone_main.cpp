// Runs a fuzz target without libFuzzer: every seed in the corpus directory, then a bounded
// number of deterministic mutations of them (byte flips, inserts, deletes, splices). This keeps
// the targets exercised in every `make test`, under ASan+UBSan in the sanitizer build.
// `make fuzz` builds the same targets with clang's libFuzzer for open-ended runs.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [ITERATIONS]\n", argv[0]);
    return 2;
  }
  size_t iterations = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20000;
  std::vector<std::string> seeds;
  for (const auto& e : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    seeds.push_back(ss.str());
  }
  if (seeds.empty()) seeds.push_back("");
  for (const auto& s : seeds) LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  std::mt19937_64 rng(12345);
  static const char* tokens[] = {"{", "}", "[", "]", ":", ",", "\"", "null", "-", "\n", "  ", "$patch", "~1", "/",
                                 "in (", ")", "!", "=", "\\u0000", "1e999", "---\n", "*a", "&a ", "!!binary "};
  for (size_t i = 0; i < iterations; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + int(rng() % 8);
    for (int k = 0; k < edits; ++k) {
      size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 5) {
        case 0: if (!s.empty() && pos < s.size()) s[pos] = char(rng() % 256); break;
        case 1: s.insert(pos, 1, char(rng() % 256)); break;
        case 2: if (!s.empty() && pos < s.size()) s.erase(pos, 1 + rng() % 8); break;
        case 3: s.insert(pos, tokens[rng() % (sizeof tokens / sizeof *tokens)]); break;
        case 4: {
          const std::string& other = seeds[rng() % seeds.size()];
          if (!other.empty()) s.insert(pos, other.substr(rng() % other.size(), 1 + rng() % 32));
        }
      }
    }
    if (const char* save = std::getenv("SKIFF_FUZZ_SAVE")) std::ofstream(save, std::ios::binary | std::ios::trunc) << s;
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::printf("%zu seeds, %zu mutations: no crash\n", seeds.size(), iterations);
  return 0;
}

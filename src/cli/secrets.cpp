// skiff secrets rotate: re-encrypts every object the encryption configuration covers with its
// first provider and key — the step between adding a new key first (and restarting) and removing
// the old one, as Kubernetes' key rotation does with `kubectl replace`.
#include <cstdio>

#include "api/object.h"
#include "cli/commands.h"
#include "cli/context.h"

namespace skiff::cli {

int runSecrets(const Args& args) {
  auto flags = Flags::parse(args, commonFlags());
  if (!flags) return fail(flags.error().message);
  if (flags->positional().size() != 1 || flags->positional()[0] != "rotate")
    return fail("usage: skiff secrets rotate   (re-encrypts stored Secrets with the first key of the encryption configuration)");
  auto ctx = Context::connect(*flags);
  if (!ctx) return fail(ctx.error().message);
  auto r = (*ctx)->call("POST", "/skiff/v1/encryption/rewrite");
  if (!r) {
    if (r.error().code == 404) return fail("this server encrypts nothing at rest (a shared store without --encryption-provider-config)");
    return fail(r.error().message);
  }
  const auto* n = r->is_object() ? r->get_object().if_contains("rewritten") : nullptr;
  std::printf("re-encrypted %lld objects with the first configured key\n", n && n->is_int64() ? static_cast<long long>(n->get_int64()) : 0LL);
  return 0;
}

}  // namespace skiff::cli

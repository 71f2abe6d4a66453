// The out-of-line encoders of snapshot_format.h.
#include "snapshot/snapshot_format.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace mirrorkv::internal::snapshot {

// Redis generates lowercase ids; accepting uppercase would give one position two
// spellings, and the header compares ids byte for byte.
Status ValidateReplicationId(std::string_view id) {
  if (id.empty()) return Status::Ok();
  if (id.size() != kReplicationIdBytes) {
    return Status::InvalidArgument("replication id must be empty or 40 hex characters");
  }
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Status::InvalidArgument("replication id must be lowercase hex ([0-9a-f])");
    }
  }
  return Status::Ok();
}

// The header is fixed-size and written first, before any entry, so a reader learns the
// position (and can reject an unknown version) from the first 80 bytes alone.
void EncodeHeader(const SnapshotPosition& position, uint32_t version, int64_t created_ms,
                  char out[kHeaderBytes]) {
  std::memcpy(out, kMagic, kMagicBytes);
  PutU32(out + 8, version);
  PutU32(out + 12, 0);  // flags: none defined
  // An empty id (no replication history) is stored as forty '0's.
  std::memset(out + 16, '0', kReplicationIdBytes);
  std::memcpy(out + 16, position.replication_id.data(), position.replication_id.size());
  PutU64(out + 56, position.offset);
  PutU64(out + 64, static_cast<uint64_t>(created_ms));
  PutU64(out + 72, Hash64({out, kHeaderHashedBytes}));
}

uint64_t BlockHash(const char* head, std::string_view stored) {
  // One streaming state over the head and the payload: the same value as XXH3-64 of
  // their concatenation, without building it.
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, head, kBlockHashedHeadBytes);
  XXH3_64bits_update(&state, stored.data(), stored.size());
  return XXH3_64bits_digest(&state);
}

void EncodeBlockHead(Codec codec, uint32_t entry_count, uint32_t raw_len, std::string_view stored,
                     char out[kBlockHeadBytes]) {
  out[0] = static_cast<char>(FrameTag::kBlock);
  out[1] = static_cast<char>(codec);
  PutU32(out + 2, entry_count);
  PutU32(out + 6, raw_len);
  PutU32(out + 10, static_cast<uint32_t>(stored.size()));
  PutU64(out + kBlockHashedHeadBytes, BlockHash(out, stored));
}

void EncodeFooterCounts(uint64_t entry_count, uint64_t block_count, char out[kFooterHashedBytes]) {
  out[0] = static_cast<char>(FrameTag::kFooter);
  PutU64(out + 1, entry_count);
  PutU64(out + 9, block_count);
}

uint64_t Hash64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

}  // namespace mirrorkv::internal::snapshot

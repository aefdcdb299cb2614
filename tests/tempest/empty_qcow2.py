"""Writes an empty qcow2 (version 3) disk image, as `qemu-img create -f qcow2
PATH SIZE` would, for machines without qemu-img (scripts/tempest.sh uses
qemu-img when it is there). Tempest uploads and imports it, and the
catalog's (and Glance's) format inspector must accept it as qcow2.

    python3 empty_qcow2.py PATH [SIZE_BYTES]    # 1 MiB by default

The layout is qemu-img's: the header in cluster 0, the refcount table in
cluster 1, its one refcount block in cluster 2, the L1 table in cluster 3
(one entry, unallocated: every guest cluster reads as zeros); the first four
clusters have refcount 1. 64 KiB clusters, 16-bit refcounts.
"""

import struct
import sys

CLUSTER_BITS = 16
CLUSTER = 1 << CLUSTER_BITS
REFCOUNT_TABLE, REFCOUNT_BLOCK, L1_TABLE = CLUSTER, 2 * CLUSTER, 3 * CLUSTER
HEADER_LENGTH = 112  # v3 header with the compression type byte, padded to 8


def image(size):
    # One L2 table maps CLUSTER / 8 clusters; one L1 entry per L2 table.
    l2_span = (CLUSTER // 8) * CLUSTER
    l1_entries = max(1, -(-size // l2_span))
    assert l1_entries * 8 <= CLUSTER, "size too large for a one-cluster L1 table"
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII",
        b"QFI\xfb",      # magic
        3,               # version
        0, 0,            # backing file offset, size
        CLUSTER_BITS,
        size,            # virtual size
        0,               # crypt method: none
        l1_entries,      # l1_size
        L1_TABLE,        # l1_table_offset
        REFCOUNT_TABLE,  # refcount_table_offset
        1,               # refcount_table_clusters
        0, 0,            # nb_snapshots, snapshots_offset
        0, 0, 0,         # incompatible, compatible, autoclear features
        4,               # refcount_order: 16-bit refcounts
        HEADER_LENGTH,
    )
    header += b"\0" * (HEADER_LENGTH - len(header))  # compression type zlib + padding
    header += struct.pack(">II", 0, 0)               # end of header extensions
    data = bytearray(L1_TABLE + l1_entries * 8)
    data[: len(header)] = header
    data[REFCOUNT_TABLE : REFCOUNT_TABLE + 8] = struct.pack(">Q", REFCOUNT_BLOCK)
    data[REFCOUNT_BLOCK : REFCOUNT_BLOCK + 8] = struct.pack(">4H", 1, 1, 1, 1)
    return bytes(data)


if __name__ == "__main__":
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 1 << 20
    with open(sys.argv[1], "wb") as out:
        out.write(image(size))

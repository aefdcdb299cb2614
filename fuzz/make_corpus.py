#!/usr/bin/env python3
"""Regenerates corpus/<target>/: seeds cut from real images (qemu-img,
genisoimage, sgdisk, parted) down to the regions the inspector reads, so
the committed corpus stays small (well under 1 MiB). Run from anywhere;
needs the tools scripts/lib.sh's ensure_format_tools installs."""

import os
import shutil
import struct
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, 'corpus')


def run(*args, cwd):
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def seed(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), 'wb') as f:
        f.write(data)


def vhdx_compact(data):
    """The identifier and headers, the region table, the metadata table
    moved to 256 KiB, and the size item: 324 KiB instead of megabytes."""
    rt_at = 192 * 1024
    out = bytearray(data[:64 * 1024]) + bytearray(128 * 1024)
    table = bytearray(data[rt_at:rt_at + 64 * 1024])
    meta_at = None
    count = struct.unpack_from('<I', table, 8)[0]
    for i in range(min(count, 2047)):
        entry = 16 + 32 * i
        if table[entry:entry + 16] == bytes.fromhex('06a27c8b90479a4bb8fe575f050f886e'):
            meta_at = struct.unpack_from('<Q', table, entry + 16)[0]
            struct.pack_into('<Q', table, entry + 16, 256 * 1024)
    out += table
    out += data[meta_at:meta_at + 64 * 1024 + 4096]
    return bytes(out)


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        def q(*args):
            run('qemu-img', *args, cwd=tmp)

        def p(name):
            return os.path.join(tmp, name)

        q('create', '-f', 'qcow2', 'plain.qcow2', '64M')
        q('create', '-f', 'qcow2', '-o', 'compat=0.10', 'v2.qcow2', '64M')
        q('create', '-f', 'raw', 'base.raw', '64M')
        q('create', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'backing.qcow2')
        q('create', '-f', 'qcow2', '-o', 'data_file=data.raw', 'datafile.qcow2', '64M')
        for name in ('plain', 'v2', 'backing', 'datafile'):
            seed('qcow2', name, read(p(name + '.qcow2'))[:4096])

        for sub in ('monolithicSparse', 'streamOptimized', 'monolithicFlat'):
            q('create', '-f', 'vmdk', '-o', 'subformat=' + sub, sub + '.vmdk', '64M')
        seed('vmdk', 'monolithicSparse', read(p('monolithicSparse.vmdk'))[:12 * 1024])
        seed('vmdk', 'monolithicFlat-descriptor', read(p('monolithicFlat.vmdk')))
        stream = bytearray(read(p('streamOptimized.vmdk'))[:12 * 1024])
        seed('vmdk', 'streamOptimized', bytes(stream))
        # The same with its grain directory in a footer: marker, footer, EOS.
        header = bytes(stream[:512])
        stream[56:64] = b'\xff' * 8
        marker = bytearray(512)
        marker[0] = 1
        marker[12] = 3
        seed('vmdk', 'streamOptimized-footer', bytes(stream) + bytes(marker) + header + bytes(512))

        q('create', '-f', 'vpc', 'dynamic.vhd', '64M')
        q('create', '-f', 'vpc', '-o', 'subformat=fixed', 'fixed.vhd', '8M')
        seed('vhd', 'dynamic', read(p('dynamic.vhd')))
        seed('vhd', 'fixed', bytes(4096) + read(p('fixed.vhd'))[-512:])

        q('create', '-f', 'vhdx', 'x.vhdx', '64M')
        seed('vhdx', 'compact', vhdx_compact(read(p('x.vhdx'))))

        os.makedirs(p('tree'))
        with open(p('tree/hello.txt'), 'w') as f:
            f.write('hello\n')
        run('genisoimage', '-quiet', '-o', 'plain.iso', '-V', 'T', 'tree', cwd=tmp)
        run('genisoimage', '-quiet', '-o', 'udf.iso', '-V', 'T', '-udf', 'tree', cwd=tmp)
        seed('iso', 'plain', read(p('plain.iso'))[:36 * 1024])
        seed('iso', 'udf', read(p('udf.iso'))[:40 * 1024])

        q('create', '-f', 'raw', 'gpt.raw', '16M')
        run('sgdisk', '-n', '1:2048:0', 'gpt.raw', cwd=tmp)
        q('create', '-f', 'raw', 'mbr.raw', '16M')
        run('parted', '-s', 'mbr.raw', 'mklabel', 'msdos', 'mkpart', 'primary', 'ext4', '1MiB', '100%', cwd=tmp)
        seed('partition', 'gpt', read(p('gpt.raw'))[:34 * 512])
        seed('partition', 'mbr', read(p('mbr.raw'))[:1024])

        q('create', '-f', 'qed', 'x.qed', '64M')
        seed('qed', 'plain', read(p('x.qed'))[:4096])
        q('create', '-f', 'luks', '--object', 'secret,id=sec0,data=x', '-o', 'key-secret=sec0', 'x.luks', '64M')
        seed('luks', 'v1', read(p('x.luks'))[:4096])
        q('create', '-f', 'vdi', 'x.vdi', '64M')
        seed('vdi', 'plain', read(p('x.vdi'))[:4096])

        seed('inspect_bytes', 'zeros', bytes(4096))
        seed('inspect_bytes', 'text', b'# not a descriptor\n' * 64)


if __name__ == '__main__':
    main()

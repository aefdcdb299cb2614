//! The inspector's loop: rounds, budget, clipping, short reads; and that
//! no input (truncated, garbage, hostile) makes any parser panic.

use super::*;
use crate::domain::image::DiskFormat;

/// A deterministic byte stream (xorshift), for garbage inputs.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Well-formed headers of every format, for truncation and mutation.
fn samples() -> Vec<Vec<u8>> {
    let mut qcow2 = vec![0u8; 4096];
    qcow2[..4].copy_from_slice(b"QFI\xfb");
    qcow2[7] = 3;
    qcow2[31] = 1;
    let mut vmdk = vec![0u8; 4096];
    vmdk[..4].copy_from_slice(b"KDMV");
    vmdk[4] = 1;
    vmdk[28] = 1;
    vmdk[36] = 2;
    vmdk[56..64].fill(0xff);
    let d = b"createType=\"streamOptimized\"\nRW 8 SPARSE \"x.vmdk\"\n";
    vmdk[512..512 + d.len()].copy_from_slice(d);
    let mut vhd = vec![0u8; 2048];
    vhd[..8].copy_from_slice(b"conectix");
    let mut iso = vec![0u8; 40 * 2048];
    iso[32768..32774].copy_from_slice(b"\x01CD001");
    iso[510] = 0x55;
    iso[511] = 0xaa;
    iso[446 + 4] = 0x83;
    let mut udf = vec![0u8; 300 * 2048];
    udf[32769..32774].copy_from_slice(b"BEA01");
    udf[34817..34822].copy_from_slice(b"NSR02");
    udf[256 * 2048] = 2;
    let mut luks = vec![0u8; 4096];
    luks[..6].copy_from_slice(b"LUKS\xba\xbe");
    luks[7] = 1;
    let mut qed = vec![0u8; 512];
    qed[..4].copy_from_slice(b"QED\0");
    vec![qcow2, vmdk, vhd, iso, udf, luks, qed, super::vhdx::tests::image(1 << 30, 1 << 20, 65536)]
}

fn decide_all(found: &Inspection, size: u64) {
    for declared in DiskFormat::ALL {
        for require in [true, false] {
            // Any outcome, but a reason sentence when refused.
            if let Err(refusal) = decide(found, *declared, require, size) {
                assert!(refusal.to_string().ends_with("refused."));
            }
        }
    }
}

#[test]
fn the_first_round_reads_the_head_and_tail_only() {
    let inspector = Inspector::new(10 << 20);
    let wanted = inspector.wanted();
    assert_eq!(wanted, vec![Region { offset: 0, length: HEAD }, Region { offset: (10 << 20) - TAIL, length: TAIL }]);
    // A small image: one region, clipped.
    assert_eq!(Inspector::new(100).wanted(), vec![Region { offset: 0, length: 100 }]);
    assert!(Inspector::new(0).wanted().is_empty());
    assert_eq!(Inspector::new(0).finish().matches, vec![]);
}

#[test]
fn raw_data_needs_one_round() {
    let img = vec![0u8; 1 << 20];
    let mut inspector = Inspector::new(img.len() as u64);
    for r in inspector.wanted() {
        inspector.supply(r.offset, &img[r.offset as usize..(r.offset + r.length) as usize]);
    }
    assert!(inspector.wanted().is_empty());
    assert!(inspector.finish().matches.is_empty());
}

#[test]
fn vhdx_takes_four_rounds_within_the_budget() {
    let img = super::vhdx::tests::image(1 << 30, 1 << 20, 65536);
    let mut inspector = Inspector::new(img.len() as u64);
    let mut rounds = 0;
    let mut read = 0;
    while !inspector.wanted().is_empty() {
        rounds += 1;
        assert!(rounds <= MAX_ROUNDS);
        for r in inspector.wanted() {
            read += r.length;
            inspector.supply(r.offset, &img[r.offset as usize..(r.offset + r.length) as usize]);
        }
    }
    assert_eq!(rounds, 4);
    assert!(read <= MAX_BYTES);
    assert_eq!(inspector.finish().matches[0].virtual_size, Some(1 << 30));
}

#[test]
fn short_reads_end_the_inspection_without_asking_again() {
    let img = super::vhdx::tests::image(1 << 30, 1 << 20, 65536);
    let mut inspector = Inspector::new(img.len() as u64);
    let mut calls = 0;
    while !inspector.wanted().is_empty() {
        calls += 1;
        assert!(calls <= MAX_ROUNDS);
        for r in inspector.wanted() {
            // Only the first 16 bytes of every region come back.
            let end = (r.offset + r.length.min(16)) as usize;
            inspector.supply(r.offset, &img[r.offset as usize..end]);
        }
    }
    let found = inspector.finish();
    assert_eq!(found.matches, vec![Finding::new(Format::Vhdx, None)]);
}

#[test]
fn supplying_everything_keeps_only_what_was_wanted() {
    let img = noise(7, 3 << 20);
    let mut inspector = Inspector::new(img.len() as u64);
    let _ = inspector.wanted();
    inspector.supply(0, &img);
    let held: usize = inspector.chunks.iter().map(|(_, b)| b.len()).sum();
    assert!(held as u64 <= HEAD + TAIL, "{held}");
}

#[test]
fn a_round_that_is_never_read_stops_after_the_limit() {
    let mut inspector = Inspector::new(1 << 30);
    // Supplying at offsets nobody asked for still counts rounds.
    for i in 0..10 {
        inspector.supply(i * 12345, &[0; 4]);
    }
    assert!(inspector.rounds <= MAX_ROUNDS);
}

#[test]
fn hostile_sizes_stay_within_the_budget() {
    // A vmdk descriptor of 2^60 sectors: capped at 1 MiB.
    let mut img = vec![0u8; 4 << 20];
    img[..4].copy_from_slice(b"KDMV");
    img[4] = 1;
    img[28] = 1;
    img[36..44].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let mut inspector = Inspector::new(img.len() as u64);
    let mut read = 0;
    while !inspector.wanted().is_empty() {
        for r in inspector.wanted() {
            read += r.length;
            inspector.supply(r.offset, &img[r.offset as usize..(r.offset + r.length) as usize]);
        }
    }
    assert!(read <= HEAD + TAIL + (1 << 20));
    // Past the end of a small image: clipped.
    let f = inspect_bytes(&img[..600]);
    assert_eq!(f.matches[0].problems, vec![Unsafe::VmdkNoDescriptor]);
}

#[test]
fn truncations_of_every_format_never_panic() {
    for sample in samples() {
        let mut cuts: Vec<usize> = (0..sample.len().min(1100)).collect();
        cuts.extend((1100..sample.len()).step_by(997));
        cuts.push(sample.len());
        for cut in cuts {
            let found = inspect_bytes(&sample[..cut]);
            decide_all(&found, cut as u64);
        }
    }
}

#[test]
fn mutations_and_garbage_never_panic() {
    for (n, sample) in samples().into_iter().enumerate() {
        for seed in 0..200u64 {
            let mut img = sample.clone();
            let flips = noise(seed * 31 + n as u64, 64);
            for pair in flips.chunks(4) {
                let at = (u32::from_le_bytes([pair[0], pair[1], pair[2], pair[3]]) as usize) % img.len().min(4096);
                img[at] = pair[1] ^ pair[3];
            }
            decide_all(&inspect_bytes(&img), img.len() as u64);
        }
    }
    for seed in 0..300u64 {
        let img = noise(seed, (seed as usize * 977) % 70_000);
        decide_all(&inspect_bytes(&img), img.len() as u64);
    }
    // All-0xff fields: every offset and count at its largest.
    decide_all(&inspect_bytes(&[0xff; 70_000]), 70_000);
}

#[test]
fn a_hybrid_iso_is_an_iso() {
    let iso = &samples()[3];
    let found = inspect_bytes(iso);
    let formats: Vec<Format> = found.matches.iter().map(|f| f.format).collect();
    assert_eq!(formats, vec![Format::Iso, Format::Gpt]);
    let got = decide(&found, DiskFormat::Iso, true, iso.len() as u64);
    assert_eq!(got, Ok(Accepted { virtual_size: None, detected: Format::Iso }));
}

#[test]
fn regions_supplied_in_pieces_and_out_of_order_are_assembled() {
    let img = super::vhdx::tests::image(1 << 30, 1 << 20, 65536);
    let mut inspector = Inspector::new(img.len() as u64);
    let mut rounds = 0;
    while !inspector.wanted().is_empty() {
        rounds += 1;
        assert!(rounds <= MAX_ROUNDS);
        // Each region in two halves, the second half first.
        for r in inspector.wanted().into_iter().rev() {
            let (start, end) = (r.offset as usize, (r.offset + r.length) as usize);
            let mid = start + (end - start) / 2;
            inspector.supply(mid as u64, &img[mid..end]);
            inspector.supply(r.offset, &img[start..mid]);
        }
    }
    assert_eq!(inspector.finish().matches[0].virtual_size, Some(1 << 30));
}

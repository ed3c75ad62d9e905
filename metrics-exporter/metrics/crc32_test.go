package metrics

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// The CRC of pieces combined is hash/crc32's of their concatenation, for
// empty pieces, every length up to 300 bytes and lengths up to past 1 MiB.
func TestCRC32Combine(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	lengths := []int{0, 0, 1, 2, 3, 4, 7, 8, 31, 32, 33, 255, 256, 4095, 4096, 65535, 65536, 65537,
		1<<20 - 1, 1 << 20, 1<<20 + 1, 1<<20 + 12345}
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for _, a := range []int{0, 1, 5, 1000, 1<<20 + 7} {
		for _, n := range lengths {
			A, B := data[:a], data[a:a+n]
			got := crc32Combine(crc32.ChecksumIEEE(A), crc32.ChecksumIEEE(B), n)
			if want := crc32.ChecksumIEEE(data[:a+n]); got != want {
				t.Fatalf("|A| %d, |B| %d: combined %08x, want %08x", a, n, got, want)
			}
			// A segment combines the same with its shift kept or not.
			s := Segment{Len: n, CRC: crc32.ChecksumIEEE(B)}
			if s.combine(crc32.ChecksumIEEE(A)) != got {
				t.Fatalf("|A| %d, |B| %d: a segment without its shift combines otherwise", a, n)
			}
			s.shift = crc32Shift(n)
			if s.combine(crc32.ChecksumIEEE(A)) != got {
				t.Fatalf("|A| %d, |B| %d: a segment with its shift combines otherwise", a, n)
			}
		}
	}
	// Many pieces, some empty, folded one by one as a scrape does.
	for round := 0; round < 20; round++ {
		crc, at := uint32(0), 0
		for at < len(data) {
			n := 0
			switch rng.IntN(4) {
			case 0: // empty
			case 1:
				n = rng.IntN(100)
			case 2:
				n = rng.IntN(100 << 10)
			default:
				n = rng.IntN(1200 << 10)
			}
			n = min(n, len(data)-at)
			crc = crc32Combine(crc, crc32.ChecksumIEEE(data[at:at+n]), n)
			at += n
			if want := crc32.ChecksumIEEE(data[:at]); crc != want {
				t.Fatalf("round %d, %d bytes: combined %08x, want %08x", round, at, crc, want)
			}
		}
	}
}

func BenchmarkCRC32Combine(b *testing.B) {
	b.Run("length", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			crc32Combine(uint32(i)*2654435761, 0x12345678, 70000+i%1000)
		}
	})
	shift := crc32Shift(70000)
	b.Run("shift", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			crc32CombineShift(uint32(i)*2654435761, 0x12345678, shift)
		}
	})
}

package metrics

// crc32Combine returns the CRC-32 (IEEE, as hash/crc32.ChecksumIEEE) of A
// followed by B from crcA, the CRC of A, and crcB, the CRC of B, n bytes
// long, without reading either: a gzip scrape's trailer is the CRC of the
// whole exposition, made of the CRCs kept per segment.
//
// The math: the CRC register is linear over GF(2). Let P be the CRC
// polynomial, F the all-ones register value the CRC starts from and is
// complemented with at the end, and L(M) the remainder M(x)·x^32 mod P that
// a register starting at zero holds after message M. A register holding R
// holds R·x^(8|M|) + L(M) mod P after M. Then
//
//	crc(A) = F·x^(8|A|) + L(A) + F
//	crc(AB) = (crc(A) + F)·x^(8|B|) + L(B) + F
//	crc(B) = F·x^(8|B|) + L(B) + F
//
// so crc(AB) = crc(A)·x^(8|B|) + crc(B) mod P: one multiplication by a
// power of x, which multiplying the powers x^(2^k) for the bits of 8n
// gives in at most 64 multiplications.
func crc32Combine(crcA, crcB uint32, n int) uint32 {
	return crc32CombineShift(crcA, crcB, crc32Shift(n))
}

// crc32Shift returns x^(8n) mod P, by which crc32Combine multiplies the CRC
// of A for a B of n bytes. Kept with a segment, it spares the combination of
// a few hundred segments' CRCs on each refresh the products of powers of x:
// a combination then costs one multiplication, tens of nanoseconds instead
// of some 0.6 µs.
func crc32Shift(n int) uint32 {
	return xPow8n(uint64(max(n, 0)))
}

// crc32CombineShift is crc32Combine given crc32Shift(n).
func crc32CombineShift(crcA, crcB, shift uint32) uint32 {
	return mulModP(crcA, shift) ^ crcB
}

// The polynomials are in the reflected order hash/crc32 uses: bit 31 is the
// coefficient of x^0, bit 0 that of x^31.
const (
	polyIEEE = 0xedb88320 // x^32 mod P: the terms of P below x^32
	xPow0    = 1 << 31    // 1
)

// mulModP returns a·b mod P.
func mulModP(a, b uint32) uint32 {
	var p uint32
	// For each term x^i of a, from x^0 up, add b·x^i; b is multiplied by x
	// on the way: a shift toward bit 0, x^32 folded back as P's lower terms.
	for m := uint32(xPow0); a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a ^= m
		}
		if b&1 != 0 {
			b = b>>1 ^ polyIEEE
		} else {
			b >>= 1
		}
	}
	return p
}

// xPow2k[k] is x^(2^k) mod P.
var xPow2k = func() (t [67]uint32) {
	t[0] = xPow0 >> 1 // x
	for k := 1; k < len(t); k++ {
		t[k] = mulModP(t[k-1], t[k-1])
	}
	return t
}()

// xPow8n returns x^(8n) mod P.
func xPow8n(n uint64) uint32 {
	p := uint32(xPow0)
	// 8n = n·2^3: bit j of n is the power x^(2^(j+3)).
	for k := 3; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = mulModP(xPow2k[k], p)
		}
	}
	return p
}

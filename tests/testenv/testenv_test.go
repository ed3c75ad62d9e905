package testenv

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConsistentlyChecksForTheWholeDurationAndStopsAtTheFirstFailure(t *testing.T) {
	ctx := context.Background()

	var calls atomic.Int32
	start := time.Now()
	require.NoError(t, Consistently(ctx, 300*time.Millisecond, func(context.Context) error {
		calls.Add(1)
		return nil
	}))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "returned before the duration passed")
	assert.GreaterOrEqual(t, calls.Load(), int32(3), "checked too rarely")

	calls.Store(0)
	broken := errors.New("an event arrived")
	err := Consistently(ctx, 10*time.Second, func(context.Context) error {
		if calls.Add(1) == 2 {
			return broken
		}
		return nil
	})
	require.ErrorIs(t, err, broken)
	assert.Equal(t, int32(2), calls.Load(), "went on checking after a failure")
}

func TestEventuallyReturnsTheLastErrorAfterTheTimeout(t *testing.T) {
	err := Eventually(context.Background(), 250*time.Millisecond, func(context.Context) error {
		return errors.New("not yet")
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not yet")
	assert.Contains(t, err.Error(), "timed out after 250ms")
}

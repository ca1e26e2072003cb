package azurensg_test

import (
	"testing"

	"github.com/teamsgate/teamsgate/internal/render/clistub"
)

// The stand-in for the Azure CLI is testdata/azstub, which clistub.Path
// builds once per test binary as "az"; its state file holds clistub/az's
// State.

func TestMain(m *testing.M) { clistub.Main(m) }

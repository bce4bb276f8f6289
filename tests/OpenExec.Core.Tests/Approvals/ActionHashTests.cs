using OpenExec.Core.Approvals;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Approvals;

// Depends on ClawShieldJson.Serialize. Expected values from Python:
// sha256(json.dumps({"action": a, "payload": p}, sort_keys=True, separators=(",", ":")))
public sealed class ActionHashTests
{
    [Fact]
    public void MatchesPythonForEcho()
    {
        var payload = new StrictObject([new("msg", new StrictString("hello world"))]);

        Assert.Equal("11410011e527ad258990fa54c54137f90192e73eea1358202783c45ea6f86b38", ActionHash.Compute("echo", payload));
    }

    [Fact]
    public void MatchesPythonForMixedPayload()
    {
        var payload = new StrictObject(
        [
            new("z", new StrictArray([new StrictNumber("1"), new StrictNumber("2.5"), StrictLiteral.Null, StrictLiteral.True])),
            new("a", new StrictString("é😀")),
        ]);

        Assert.Equal("0b32bd111895839b8470e5f7faca2c317558df9d982ad33c1f0f768bfdd47eee", ActionHash.Compute("send", payload));
    }
}

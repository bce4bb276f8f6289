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

    [Fact]
    public void A_proxied_payload_written_member_by_member_hashes_as_the_built_object()
    {
        // ComputeProxied writes ProxiedRequestPayload.Create's object without building it: the
        // same bytes, for any method (upper-cased), path, query and body.
        var random = new Random(11);
        string[] methods = ["POST", "post", "Put", "PURGE", "delete", "gEt"];
        string[] texts = ["", "/v1/send", "/a b/é/😀", "/\"q\"/\u0001", "a=1&b=%20", "ключ=знач", "x\ty", new string('p', 300)];
        StrictValue[] bodies =
        [
            StrictLiteral.Null,
            StrictJson.Parse("""{"msg":"hello world","n":42}"""u8),
            StrictJson.Parse("""{"z":[1,2.5,null,true,{"b":"é","a":"😀"}],"a":{"y":{},"x":[]}}"""u8),
            ProxiedRequestPayload.Body("text/plain; charset=utf-8", "bytes"u8),
            new StrictString("body"),
        ];
        for (var n = 0; n < 500; n++)
        {
            var (action, method) = ("act_" + random.Next(5), methods[random.Next(methods.Length)]);
            var (path, query, body) = (texts[random.Next(texts.Length)], texts[random.Next(texts.Length)], bodies[random.Next(bodies.Length)]);
            Assert.Equal(
                ActionHash.Compute(action, ProxiedRequestPayload.Create(method, path, query, body)),
                ActionHash.ComputeProxied(action, method, path, query, body));
        }
    }
}

using System.Text;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Json;

/// <summary>
/// The parser reads members and items on one stack per thread and gives each object and array
/// an array of exactly its size: no list per value, nothing left behind by a refused document.
/// </summary>
public sealed class StrictJsonStackTests
{
    private static StrictValue Parse(string json) => StrictJson.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Objects_and_arrays_hold_arrays_of_exactly_their_size()
    {
        var doc = (StrictObject)Parse("""{"a":[1,[2,3],{"b":{"c":[]},"d":4}],"e":{"f":5,"g":[6]},"h":7}""");

        var members = Assert.IsType<KeyValuePair<string, StrictValue>[]>(doc.Properties);
        Assert.Equal(["a", "e", "h"], members.Select(m => m.Key));
        var a = (StrictArray)members[0].Value;
        Assert.Equal(3, Assert.IsType<StrictValue[]>(a.Items).Length);
        Assert.Equal(["2", "3"], ((StrictArray)a.Items[1]).Items.Select(v => ((StrictNumber)v).Literal));
        var inner = (StrictObject)a.Items[2];
        Assert.Equal(["b", "d"], Assert.IsType<KeyValuePair<string, StrictValue>[]>(inner.Properties).Select(m => m.Key));
        Assert.Empty(((StrictArray)((StrictObject)inner.Properties[0].Value).Properties[0].Value).Items);
        var e = (StrictObject)members[1].Value;
        Assert.Equal(["f", "g"], e.Properties.Select(m => m.Key));
        Assert.Equal("""{"a":[1,[2,3],{"b":{"c":[]},"d":4}],"e":{"f":5,"g":[6]},"h":7}""", Encoding.UTF8.GetString(Jcs.Serialize(doc)));
    }

    [Theory]
    [InlineData("""{"a":{"b":[1,2,{"c":3,"c":4}]}}""")] // a duplicate deep inside
    [InlineData("""{"a":[1,2,{"b":3""")] // cut off inside nested values
    [InlineData("""[{"a":1},{"b":2},""")]
    public void A_refused_document_leaves_nothing_for_the_next(string refused)
    {
        Assert.Throws<StrictJsonException>(() => Parse(refused));

        var next = (StrictObject)Parse("""{"x":[{"y":1}],"z":2}""");
        Assert.Equal(["x", "z"], next.Properties.Select(m => m.Key));
        var x = Assert.IsType<StrictValue[]>(((StrictArray)next.Properties[0].Value).Items);
        Assert.Equal(["y"], Assert.Single(x.Cast<StrictObject>()).Properties.Select(m => m.Key));
    }

    [Fact]
    public void Duplicates_are_found_within_each_object_only()
    {
        // The same key in a parent and its child, and in siblings, is no duplicate; large objects
        // (past the linear scan) are checked against their own members.
        var wide = "{" + string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"k{i}\":{{\"k{i}\":1,\"x\":2}}")) + "}";
        var doc = (StrictObject)Parse(wide);
        Assert.Equal(40, doc.Count);
        Assert.All(doc.Properties, m => Assert.Equal(2, ((StrictObject)m.Value).Count));

        var duplicate = "{" + string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"k{i}\":{{}}")) + ",\"k39\":1}";
        Assert.Equal("duplicate_key", Assert.Throws<StrictJsonException>(() => Parse(duplicate)).Code);
    }

    [Fact]
    public void A_proxied_payload_holds_its_members_in_a_plain_array()
    {
        var payload = OpenExec.Core.Approvals.ProxiedRequestPayload.Create("post", "/v1/x", "a=1", Parse("""{"k":1}"""));
        Assert.IsType<KeyValuePair<string, StrictValue>[]>(payload.Properties);
        var bytes = (StrictObject)OpenExec.Core.Approvals.ProxiedRequestPayload.Body("text/plain", "hi"u8);
        Assert.IsType<KeyValuePair<string, StrictValue>[]>(bytes.Properties);
    }

    [Fact]
    public void Short_ascii_keys_read_again_are_the_same_strings_and_every_key_reads_as_written()
    {
        var first = (StrictObject)Parse("""{"msg":"hello","n":42}""");
        var second = (StrictObject)Parse("""{"n":1,"msg":"hello"}""");
        Assert.Same(first.Properties[0].Key, second.Properties[1].Key);
        Assert.Same(first.Properties[1].Key, second.Properties[0].Key);
        // Values are not shared.
        Assert.NotSame(((StrictString)first.Properties[0].Value).Value, ((StrictString)second.Properties[1].Value).Value);

        // Many keys (colliding in the small cache), escaped, non-ASCII and long ones: each reads as written.
        var random = new Random(7);
        for (var n = 0; n < 2000; n++)
        {
            var keys = Enumerable.Range(0, 5).Select(_ => random.Next(6) switch
            {
                0 => "k\u00e9" + random.Next(100),
                1 => "ключ" + random.Next(100),
                2 => new string('x', 33) + random.Next(100),
                _ => "k" + random.Next(300),
            }).Distinct().ToList();
            var json = "{" + string.Join(",", keys.Select((k, i) => $"\"{k}\":{i}")) + "}";
            var doc = (StrictObject)Parse(json);
            Assert.Equal(keys.Select(k => k.Replace("\\u00e9", "\u00e9")), doc.Properties.Select(p => p.Key));
        }
    }
}

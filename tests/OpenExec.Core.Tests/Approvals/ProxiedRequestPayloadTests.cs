using System.Text;
using OpenExec.Core.Approvals;
using OpenExec.Core.Json;

namespace OpenExec.Core.Tests.Approvals;

/// <summary>
/// What a proxied request's body contributes to its action hash (SPEC section 5): the whole
/// Content-Type for bytes (a boundary or charset changes what a backend reads), the parsed value
/// only for plain application/json, and no keys that a case-insensitive backend would merge.
/// </summary>
public sealed class ProxiedRequestPayloadTests
{
    [Theory]
    [InlineData("application/json", "application/json")]
    [InlineData(" Multipart/Form-Data ;Boundary=AAA ", "multipart/form-data; boundary=AAA")]
    [InlineData("text/plain; charset=\"UTF-8\"; format=flowed", "text/plain; charset=\"UTF-8\"; format=flowed")]
    [InlineData("text/plain;; charset=utf-8", "text/plain; charset=utf-8")] // an empty parameter
    [InlineData("multipart/mixed; boundary=\"a;b\"", "multipart/mixed; boundary=\"a;b\"")] // ';' inside quotes
    public void A_content_type_is_canonical_with_its_parameters(string sent, string canonical)
    {
        Assert.True(ProxiedRequestPayload.TryCanonicalContentType(sent, out var result));
        Assert.Equal(canonical, result);
    }

    [Theory]
    [InlineData("multipart/form-data; boundary=A; Boundary=B")] // named twice
    [InlineData("text/plain; charset")]
    [InlineData("text/plain; charset=\"utf-8")]
    [InlineData("text/plain; charset=\"utf-8\" x")]
    [InlineData("text/plain; charset=a b")]
    [InlineData("text")]
    [InlineData("/plain")]
    [InlineData("application/json, text/plain")] // two headers joined
    [InlineData("text/plain; a=\"\u00e9\"")] // obs-text: the forwarder could not send it
    [InlineData("text/plain; a=\"\u0001\"")]
    [InlineData("text/plain; a=\"x\\\u00e9\"")] // escaped, still not sendable
    [InlineData("text/plain; a=\"x\\")]
    [InlineData("text/plain;p0=0;p1=1;p2=2;p3=3;p4=4;p5=5;p6=6;p7=7;p8=8;p9=9;pa=a;pb=b;pc=c;pd=d;pe=e;pf=f;pg=g")] // more than any real type has
    public void A_content_type_that_is_not_one_media_type_is_refused(string sent)
        => Assert.False(ProxiedRequestPayload.TryCanonicalContentType(sent, out _));

    [Fact]
    public void No_content_type_is_none()
    {
        Assert.True(ProxiedRequestPayload.TryCanonicalContentType(null, out var none));
        Assert.Null(none);
        Assert.True(ProxiedRequestPayload.TryCanonicalContentType("  ", out none));
        Assert.Null(none);
    }

    [Theory]
    [InlineData("application/json", true)]
    [InlineData("APPLICATION/JSON; charset=UTF-8", true)]
    [InlineData("application/json; charset=\"utf8\"", true)]
    [InlineData("application/json; profile=x", false)]
    [InlineData("application/merge-patch+json", false)]
    [InlineData("application/vnd.api+json", false)]
    [InlineData("text/json", false)]
    [InlineData(null, false)]
    public void Only_plain_application_json_is_hashed_parsed(string? contentType, bool parsed)
        => Assert.Equal(parsed, ProxiedRequestPayload.IsParsedJson(contentType));

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/json; charset=utf-8")]
    public void An_empty_json_body_is_hashed_as_null(string contentType)
    {
        // SPEC section 5: the parsed body, null when empty; the same hash as a body of "null".
        var empty = ProxiedRequestPayload.Body(contentType, ReadOnlySpan<byte>.Empty);
        Assert.Same(StrictLiteral.Null, empty);
        Assert.Equal(
            ActionHash.Compute("send", ProxiedRequestPayload.Create("POST", "/v1/send", "", ProxiedRequestPayload.Body(contentType, "null"u8))),
            ActionHash.Compute("send", ProxiedRequestPayload.Create("POST", "/v1/send", "", empty)));
    }

    [Fact]
    public void A_JSON_based_type_is_hashed_as_bytes_with_its_type()
    {
        var body = ProxiedRequestPayload.Body("application/merge-patch+json", """{"a":null}"""u8);
        var form = Assert.IsType<StrictObject>(body);
        Assert.True(form.TryGet("content_type", out var type));
        Assert.Equal("application/merge-patch+json", Assert.IsType<StrictString>(type).Value);
    }

    [Theory]
    [InlineData("""{"amount":10,"Amount":1000000}""")]
    [InlineData("""{"to":"x","items":[{"id":1,"ID":2}]}""")]
    [InlineData("""{"kelvin":1,"\u212Aelvin":2}""")] // KELVIN SIGN lower-cases to 'k'
    [InlineData("""{"s":1,"\u017F":2}""")] // LONG S upper-cases to 'S'
    [InlineData("""{"a\uD801\uDC00":1,"a\uD801\uDC28":2}""")] // DESERET capital and small long i: astral letters fold too
    public void Keys_that_differ_only_in_case_are_refused(string json)
    {
        var refused = Assert.Throws<StrictJsonException>(() => ProxiedRequestPayload.Body("application/json", Encoding.UTF8.GetBytes(json)));
        Assert.Equal("duplicate_key", refused.Code);
    }

    [Theory]
    [InlineData("""{"amount":10,"amount\u0000x":1000000}""")]
    [InlineData("""{"amount\u0000":10,"amount":1000000}""")]
    [InlineData("""{"amount\u0000a":10,"amount\u0000b":1000000}""")]
    [InlineData("""{"x":[{"Amount\u0000":1,"amount":2}]}""")] // and ignoring case
    public void Keys_that_are_the_same_up_to_a_NUL_are_refused(string json)
    {
        // A backend that reads keys as C strings (cJSON, jansson without JSON_ALLOW_NUL) stops at
        // the NUL and reads one of them, chosen by their order, which the approval does not cover.
        var refused = Assert.Throws<StrictJsonException>(() => ProxiedRequestPayload.Body("application/json", Encoding.UTF8.GetBytes(json)));
        Assert.Equal("duplicate_key", refused.Code);
        Assert.Contains("\\u0000", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\0", refused.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AMOUNT=1000000&amount=10", "AMOUNT", "amount")]
    [InlineData("a=1&flag&FLAG=1", "flag", "FLAG")]
    [InlineData("%C3%A9=1&%C3%89=2", "\u00e9", "\u00c9")] // decoded: é and É
    [InlineData("a+b=1&A%20B=2", "a b", "A B")] // '+' is a space in form data
    [InlineData("k%00x=1&k=2", "k\u0000x", "k")] // a C backend stops at the NUL
    public void Query_keys_that_differ_only_in_case_are_named(string query, string first, string second)
    {
        var problem = ProxiedRequestPayload.QueryKeyCollision(query);
        Assert.NotNull(problem);
        Assert.Contains($"'{first.Replace("\0", "\\u0000", StringComparison.Ordinal)}' and '{second}'", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a=1&a=2&b=3")] // the same key repeated is a list, not a collision
    [InlineData("a=1&b=2&ab=3")]
    [InlineData("x=A&y=a")] // values may differ in case
    public void Query_keys_that_are_distinct_or_repeated_pass(string query)
        => Assert.Null(ProxiedRequestPayload.QueryKeyCollision(query));

    [Fact]
    public void A_long_query_is_checked_as_a_short_one_is()
    {
        var keys = Enumerable.Range(0, 40).Select(i => $"key{i}={i}").ToList();
        Assert.Null(ProxiedRequestPayload.QueryKeyCollision(string.Join("&", keys.Append("key3=again"))));
        Assert.Contains("'key31' and 'KEY31'", ProxiedRequestPayload.QueryKeyCollision(string.Join("&", keys.Append("KEY31=x"))), StringComparison.Ordinal);
    }

    [Fact]
    public void A_NUL_in_a_key_that_collides_with_no_other_passes()
        => Assert.IsType<StrictObject>(ProxiedRequestPayload.Body("application/json", """{"a\u0000b":1,"c":2}"""u8));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_large_object_is_checked_as_a_small_one_is(bool collide)
    {
        var keys = Enumerable.Range(0, 5000).Select(i => $"\"key{i}\":{i}").ToList();
        if (collide)
        {
            keys.Add("\"KEY4321\":0");
            keys.Add("\"\\uD801\\uDC00\":0");
            keys.Add("\"\\uD801\\uDC28\":0");
        }
        var json = Encoding.UTF8.GetBytes("{" + string.Join(",", keys) + "}");
        if (collide)
        {
            Assert.Equal("duplicate_key", Assert.Throws<StrictJsonException>(() => ProxiedRequestPayload.Body("application/json", json)).Code);
        }
        else
        {
            Assert.Equal(5000, Assert.IsType<StrictObject>(ProxiedRequestPayload.Body("application/json", json)).Count);
        }
    }

    [Fact]
    public void Distinct_keys_and_the_same_key_in_sibling_objects_pass()
        => Assert.IsType<StrictObject>(ProxiedRequestPayload.Body("application/json", """{"a":{"id":1},"b":{"id":2},"Ab":3}"""u8));

    [Theory]
    [InlineData("q=a|b&c=d|e", true, "percent-encode '|' as %7C")]
    [InlineData("filter={\"a\":[1]}", true, "percent-encode '{' as %7B, '\"' as %22, '}' as %7D")] // '[' ']' travel as typed in a query
    [InlineData("/v1/a[0]", false, "percent-encode '[' as %5B, ']' as %5D")]                  // not in a path
    [InlineData("/v1/café<x>", false, "percent-encode 'é' as %C3%A9, '<' as %3C, '>' as %3E")]
    [InlineData("q=😀", true, "percent-encode '😀' as %F0%9F%98%80")]
    public void Characters_left_unencoded_are_named_once_each_with_their_escape(string text, bool query, string advice)
    {
        Assert.Equal(advice, ProxiedRequestPayload.EncodingAdvice(ProxiedRequestPayload.UnencodedCharacters(text, query)));
    }

    [Theory]
    [InlineData("/v1/a%41%zz%", false)] // escapes, good or bad, are another refusal's business
    [InlineData("/v1/-._~!$&'()*+,;=:@", false)]
    [InlineData("a=%41&b=[1]?/", true)]
    public void A_target_with_only_plain_characters_and_escapes_has_none_unencoded(string text, bool query)
    {
        Assert.Empty(ProxiedRequestPayload.UnencodedCharacters(text, query));
    }

    [Fact]
    public void At_most_eight_characters_are_named()
    {
        Assert.Equal(8, ProxiedRequestPayload.UnencodedCharacters("\"<>^`{|}\\", query: true).Count);
    }

    [Fact]
    public void Checking_a_json_body_for_folded_keys_allocates_nothing_per_value()
    {
        // 60 objects and arrays: walking them through the interface allocated an enumerator each.
        var json = Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Range(0, 30).Select(i => $"{{\"k{i}\":[{i}],\"K{i}x\":{{}}}}")) + "]");
        ProxiedRequestPayload.Body("application/json", json);
        StrictJson.Parse(json);

        var before = GC.GetAllocatedBytesForCurrentThread();
        StrictJson.Parse(json);
        var parsing = GC.GetAllocatedBytesForCurrentThread() - before;
        before = GC.GetAllocatedBytesForCurrentThread();
        var body = ProxiedRequestPayload.Body("application/json", json);
        var checking = GC.GetAllocatedBytesForCurrentThread() - before - parsing;

        Assert.Equal(30, ((StrictArray)body).Items.Count);
        Assert.True(checking < 60 * 16, $"the check allocated {checking} bytes beyond parsing");
        var obj = (StrictObject)((StrictArray)body).Items[0];
        before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Assert.True(obj.TryGet("K0x", out _));
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}

namespace OpenExec.Core.Json;

/// <summary>
/// ClawShield canonical JSON: byte for byte what Python prints for
/// <c>json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))</c> (SPEC section 4).
/// </summary>
public static class ClawShieldJson
{
    public static byte[] Serialize(StrictValue value) => throw new NotImplementedException();
}

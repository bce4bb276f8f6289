namespace OpenExec.Core.Json;

/// <summary>RFC 8785 JSON Canonicalization Scheme, used to hash receipt bodies.</summary>
public static class Jcs
{
    public static byte[] Serialize(StrictValue value) => throw new NotImplementedException();
}

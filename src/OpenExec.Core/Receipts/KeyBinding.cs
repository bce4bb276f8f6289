namespace OpenExec.Core.Receipts;

/// <summary>
/// Which gateways' receipts and checkpoints a receipt-signing key vouches for: the gateways that
/// sign with it, or, for a key whose gateways are not known (null: a PEM key, a key listed before
/// keys were bound to gateways), any gateway's.
/// </summary>
public static class KeyBinding
{
    public static bool Signs(IReadOnlyList<string>? gateways, string gateway)
        => gateways is null || gateways.Contains(gateway, StringComparer.Ordinal);

    /// <summary>
    /// Two listings of one key's gateways, as one: their union, unknown (null) if either is. A
    /// binding only ever grows, so a listing read before another instance registered the key
    /// does not take that instance's receipts away.
    /// </summary>
    public static IReadOnlyList<string>? Merge(IReadOnlyList<string>? a, IReadOnlyList<string>? b)
        => a is null || b is null ? null : [.. a.Union(b, StringComparer.Ordinal).Order(StringComparer.Ordinal)];
}

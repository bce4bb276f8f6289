namespace OpenExec.Core.Approvals;

/// <summary>
/// The shape of an action name (SPEC section 3): 1..128 chars of <c>[A-Za-z0-9._:-]</c>. One
/// rule for the gateway's doors, its routes and allow-list, and the tools that mint approvals.
/// </summary>
public static class ActionName
{
    public const string Rule = "1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'";

    public static bool IsValid(string action)
    {
        if (action.Length is 0 or > 128)
        {
            return false;
        }
        foreach (var c in action)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            {
                return false;
            }
        }
        return true;
    }
}

namespace OpenExec.Core.Approvals;

/// <summary>The approval artifact does not have the v1 shape (400 <c>invalid_approval</c>, SPEC section 3 step 1).</summary>
public sealed class ApprovalFormatException : Exception
{
    public ApprovalFormatException() : base("Invalid approval artifact") { }

    public ApprovalFormatException(string message) : base(message) { }

    public ApprovalFormatException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>The wire code.</summary>
    public string Code => "invalid_approval";
}

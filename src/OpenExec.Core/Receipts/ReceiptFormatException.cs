namespace OpenExec.Core.Receipts;

/// <summary>A receipt document, body or checkpoint does not have the SPEC section 6 shape.</summary>
public sealed class ReceiptFormatException : Exception
{
    public ReceiptFormatException() : base("Invalid receipt document") { }

    public ReceiptFormatException(string message) : base(message) { }

    public ReceiptFormatException(string message, Exception innerException) : base(message, innerException) { }
}

namespace OpenExec.Core.Crypto;

/// <summary>A configured key cannot be used; the message says why and what to supply instead.</summary>
public sealed class KeyFormatException : Exception
{
    public KeyFormatException() : base("Invalid key") { }

    public KeyFormatException(string message) : base(message) { }

    public KeyFormatException(string message, Exception innerException) : base(message, innerException) { }
}

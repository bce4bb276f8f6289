using OpenExec.Core.Text;

namespace OpenExec.Core.Tests.Security;

public sealed class SecretTextTests
{
    [Theory]
    [InlineData("http://127.0.0.1:5100/v1", "http://127.0.0.1:5100/v1")]
    [InlineData("http://user:PASSWORD@host:5100/v1", "http://***@host:5100/v1")]
    [InlineData("http://user:PA/SS@host/v1", "http://***@host/v1")]      // a '/' in the password
    [InlineData("http://user:PA?SS@host/v1", "http://***@host/v1")]      // a '?' in the password
    [InlineData("http://user:PA#SS@host/v1", "http://***@host/v1")]
    [InlineData("http://host/v1?api_key=PASSWORD", "http://host/v1?***")]
    [InlineData("collector:4317?api_key=PASSWORD", "collector:4317?***")]
    [InlineData("user:PASSWORD@host:6379", "***@host:6379")]
    [InlineData("", "")]
    public void An_address_is_shown_without_anything_that_may_be_a_credential(string address, string shown)
    {
        Assert.Equal(shown, SecretText.Address(address));
        Assert.DoesNotContain("PA", SecretText.Address(address).Replace("***", "", StringComparison.Ordinal).Replace("http", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }
}
